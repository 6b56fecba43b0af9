package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/local"
	"github.com/bqbackfill/bqbackfill/shared/logging"
)

func init() {
	register(command{name: "run", summary: "run the whole pipeline locally on a sql/ tree until nothing is left to do", run: runRun})
}

// stackFlags are the flags of every command that opens the local stack.
type stackFlags struct {
	stateDir    string
	parallelism int
	today       string
	verbose     bool
}

func (f *stackFlags) register(fs *flag.FlagSet) {
	for _, n := range []string{"state-dir", "state_dir"} {
		fs.StringVar(&f.stateDir, n, ".bqbackfill", "directory holding the local warehouse, buckets and ledger")
	}
	fs.IntVar(&f.parallelism, "parallelism", 8, "concurrent worker tasks")
	fs.StringVar(&f.today, "today", "", "treat this date (YYYY-MM-DD) as today")
	fs.BoolVar(&f.verbose, "verbose", false, "log every step (JSON) to stderr")
}

// clock returns the stack's clock: the real time, or --today at the real
// time of day.
func (f *stackFlags) clock() (func() time.Time, error) {
	if f.today == "" {
		return nil, nil
	}
	d, err := civil.ParseDate(f.today)
	if err != nil {
		return nil, usagef("--today %q: want YYYY-MM-DD", f.today)
	}
	return func() time.Time {
		now := time.Now().UTC()
		return time.Date(d.Year, d.Month, d.Day, now.Hour(), now.Minute(), now.Second(), now.Nanosecond(), time.UTC)
	}, nil
}

func (f *stackFlags) open(ctx context.Context, io IO, events io.Writer) (*local.Stack, error) {
	if f.parallelism < 1 {
		return nil, usagef("--parallelism must be at least 1")
	}
	now, err := f.clock()
	if err != nil {
		return nil, err
	}
	return local.Open(ctx, local.Options{
		StateDir:    f.stateDir,
		Parallelism: f.parallelism,
		Now:         now,
		Events:      events,
		Logger:      logging.New(io.Err, logLevel(f.verbose)),
	})
}

func runRun(ctx context.Context, args []string, io IO) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Err)
	var sf stackFlags
	sf.register(fs)
	var sqlDir string
	var asJSON bool
	for _, n := range []string{"sql-dir", "sql_dir"} {
		fs.StringVar(&sqlDir, n, "sql", "the sql/ tree to run")
	}
	fs.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	pos, err := filesParse(fs, args)
	if err != nil {
		return filesRun(err)
	}
	if len(pos) > 0 {
		return usagef("run takes no arguments, got %q", pos)
	}
	if st, err := os.Stat(sqlDir); err != nil || !st.IsDir() {
		return usagef("--sql-dir %s is not a directory", sqlDir)
	}
	events := io.Out
	if asJSON {
		events = io.Err
	}
	stack, err := sf.open(ctx, io, events)
	if err != nil {
		return err
	}
	defer stack.Close()
	res, err := stack.Run(ctx, sqlDir)
	if err != nil {
		return err
	}
	return printRunSummary(ctx, io.Out, stack, res, asJSON)
}

// backfillSummary is one line of run's and status's output (and their JSON).
type backfillSummary struct {
	ID         string `json:"backfill_id"`
	Table      string `json:"table"`
	EntryDate  string `json:"entry_date"`
	State      string `json:"state"`
	Partitions int    `json:"partitions"`
	Done       int    `json:"done"`
	Failed     int    `json:"failed"`
	Staging    string `json:"staging_table,omitempty"`
	Backup     string `json:"backup_table,omitempty"`
	LastError  string `json:"last_error,omitempty"`
}

func summarize(ctx context.Context, led interface {
	PartitionStates(ctx context.Context, id string) (map[string]ledger.PartitionState, error)
}, b *ledger.Backfill) backfillSummary {
	s := backfillSummary{ID: b.ID, Table: b.Table, EntryDate: b.EntryDate, State: string(b.State), Partitions: b.PartitionCount,
		Staging: b.Staging, Backup: b.Backup, LastError: b.LastError}
	if states, err := led.PartitionStates(ctx, b.ID); err == nil {
		for _, st := range states {
			switch st {
			case ledger.PartitionDone:
				s.Done++
			case ledger.PartitionFailed:
				s.Failed++
			}
		}
	}
	return s
}

func printRunSummary(ctx context.Context, w io.Writer, stack *local.Stack, res local.Result, asJSON bool) error {
	var rows []backfillSummary
	for _, b := range res.Backfills {
		rows = append(rows, summarize(ctx, stack.Ledger, b))
	}
	if asJSON {
		if rows == nil {
			rows = []backfillSummary{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return err
		}
	} else {
		if len(rows) == 0 {
			fmt.Fprintln(w, "Nothing to do: no entry requires action.")
		}
		for _, r := range rows {
			fmt.Fprintf(w, "%s  %-10s  %d/%d partitions done", r.ID, r.State, r.Done, r.Partitions)
			if r.Failed > 0 {
				fmt.Fprintf(w, ", %d failed", r.Failed)
			}
			fmt.Fprintln(w)
			if r.LastError != "" {
				fmt.Fprintf(w, "    %s\n", strings.ReplaceAll(r.LastError, "\n", "\n    "))
			}
		}
	}
	if failed := res.Failed(); len(failed) > 0 {
		var ids []string
		for _, b := range failed {
			ids = append(ids, b.ID+" ("+string(b.State)+")")
		}
		if !asJSON {
			fmt.Fprintf(w, "\n%d backfill(s) failed or were rejected: %s\n", len(failed), strings.Join(ids, ", "))
		}
		return errSilent
	}
	return nil
}

func logLevel(verbose bool) slog.Level {
	if verbose {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}
