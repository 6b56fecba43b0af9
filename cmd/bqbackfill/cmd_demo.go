package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/civil"
	"github.com/spf13/cobra"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/local"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

func init() {
	register(func(io IO) *cobra.Command { return newDemoCmd(io, demoRun) })
}

// demoOptions are demo's parsed command line.
type demoOptions struct {
	IO    IO
	Stack stackFlags // stateDir "": a new temporary directory
}

func newDemoCmd(io IO, runF func(context.Context, *demoOptions) error) *cobra.Command {
	o := &demoOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run one backfill from Initiate to Complete on a sample tree and warehouse",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("demo takes no arguments")
			}
			if err := o.Stack.check(); err != nil {
				return err
			}
			return runF(cmd.Context(), o)
		},
	}
	o.Stack.add(cmd.Flags())
	// The demo needs a fresh directory: by default a new temporary one.
	o.Stack.stateDir = ""
	cmd.Flags().Lookup("state-dir").DefValue = ""
	cmd.Flags().Lookup("state-dir").Usage = "an empty or new directory for the demo's tree and state (default: a new temporary directory)"
	return cmd
}

func demoRun(ctx context.Context, o *demoOptions) error {
	io, sf := o.IO, &o.Stack
	dir := sf.stateDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "bqbackfill-demo-")
		if err != nil {
			return err
		}
		dir = tmp
	} else if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return usagef("--state-dir %s is not empty; the demo needs a fresh directory", dir)
	}
	now, err := sf.clock()
	if err != nil {
		return err
	}
	if now == nil {
		now = time.Now
	}
	today := civil.DateOf(now().UTC())
	sqlDir, err := local.WriteDemoTree(filepath.Join(dir, "tree"), today)
	if err != nil {
		return err
	}
	sf.stateDir = filepath.Join(dir, "state")
	w := io.Out
	stack, err := sf.open(ctx, io, indent(w))
	if err != nil {
		return err
	}
	defer stack.Close()
	if err := local.LoadDemoData(ctx, stack.DuckDB, today); err != nil {
		return err
	}
	table := local.DemoTable
	id := pipeline.BackfillID(table, today.String())

	fmt.Fprintf(w, "bqbackfill demo — everything runs in this process: DuckDB as the warehouse, fake GCS and Pub/Sub.\n")
	fmt.Fprintf(w, "Files: %s\nState: %s\n\n", sqlDir, sf.stateDir)
	fmt.Fprintf(w, "%s was computed by a query that counted bots. The fixed query.sql drops them,\n", table)
	fmt.Fprintf(w, "and backfill.yaml has an Initiate entry for the last %d days (one excluded):\n\n", local.DemoDays)
	entry, _ := os.ReadFile(filepath.Join(sqlDir, table.Project, table.Dataset, table.Table, "backfill.yaml"))
	fmt.Fprintf(w, "%s\n", indentText(string(entry), "    "))

	before, err := dailyTotals(ctx, stack.DuckDB, table)
	if err != nil {
		return err
	}

	fmt.Fprintf(w, "1. Initiate: sync the tree; the manifest event fires the scanner, which creates staging,\n   publishes one message per partition and starts the workers.\n\n")
	stop := progress(ctx, w, stack, id)
	res, err := stack.Run(ctx, sqlDir)
	stop()
	if err != nil {
		return err
	}
	if err := requireState(stack, res, id, ledger.StateProcessed); err != nil {
		return err
	}
	_, settings, err := openTree(sqlDir)
	if err != nil {
		return err
	}
	staging, err := dailyTotals(ctx, stack.DuckDB, backfill.StagingTable(table, today, settings, nil))
	if err != nil {
		return err
	}

	fmt.Fprintf(w, "\n2. Validate staging, then set the entry's status to Complete (the second pull request).\n")
	if err := local.SetDemoStatus(sqlDir, "Complete"); err != nil {
		return err
	}
	fmt.Fprintf(w, "   The scanner requests completion; the completion function backs up production,\n   copies each staged partition over it and deletes staging.\n\n")
	res, err = stack.Run(ctx, sqlDir)
	if err != nil {
		return err
	}
	if err := requireState(stack, res, id, ledger.StateCompleted); err != nil {
		return err
	}
	after, err := dailyTotals(ctx, stack.DuckDB, table)
	if err != nil {
		return err
	}

	fmt.Fprintf(w, "\n3. Production, daily active users summed over countries:\n\n")
	fmt.Fprintf(w, "    %-12s %8s %8s %8s\n", "date", "before", "staged", "after")
	for _, d := range before.dates {
		st := "-"
		if v, ok := staging.sum[d]; ok {
			st = fmt.Sprint(v)
		}
		mark := ""
		if before.sum[d] != after.sum[d] {
			mark = "  fixed"
		} else if d == today.AddDays(-7).String() {
			mark = "  excluded: unchanged"
		}
		fmt.Fprintf(w, "    %-12s %8d %8s %8d%s\n", d, before.sum[d], st, after.sum[d], mark)
	}
	fmt.Fprintf(w, "\nThe backup of production before the swap is kept for 30 days:\n")
	fmt.Fprintf(w, "    %s\n", backfill.BackupTable(table, today, settings, nil))
	fmt.Fprintf(w, "\nTry:\n    go run ./cmd/bqbackfill status --state-dir %s\n", sf.stateDir)
	fmt.Fprintf(w, "    go run ./cmd/bqbackfill sql --state-dir %s \"SELECT * FROM \\`%s\\` ORDER BY 1, 2 LIMIT 6\"\n", sf.stateDir, table)
	fmt.Fprintf(w, "    go run ./cmd/bqbackfill rollback %s --state-dir %s\n", table, sf.stateDir)
	return nil
}

func requireState(stack *local.Stack, res local.Result, id string, want ledger.State) error {
	for _, b := range res.Backfills {
		if b.ID == id {
			if b.State != want {
				return fmt.Errorf("demo backfill %s ended %s, want %s: %s", id, b.State, want, b.LastError)
			}
			return nil
		}
	}
	return fmt.Errorf("demo backfill %s did not run", id)
}

type totals struct {
	dates []string
	sum   map[string]int64
}

func dailyTotals(ctx context.Context, w warehouse.Warehouse, t warehouse.TableRef) (totals, error) {
	rows, err := w.Read(ctx, warehouse.QueryJob{SQL: fmt.Sprintf("SELECT CAST(submission_date AS STRING) AS d, SUM(dau) AS n FROM `%s` GROUP BY submission_date ORDER BY submission_date", t)})
	if err != nil {
		return totals{}, fmt.Errorf("read %s: %w", t, err)
	}
	out := totals{sum: map[string]int64{}}
	for _, r := range rows.Rows {
		d := fmt.Sprint(r[0])
		var n int64
		fmt.Sscan(fmt.Sprint(r[1]), &n)
		out.dates = append(out.dates, d)
		out.sum[d] = n
	}
	return out, nil
}

// progress draws a bar of the backfill's finished partitions until they
// are all final or it is stopped. On a terminal it redraws one line; else
// it prints the final count once. It shares outMu with the event printer so
// the two never interleave.
func progress(ctx context.Context, w io.Writer, stack *local.Stack, id string) (stop func()) {
	tty := isTerminal(w)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	last := -1
	draw := func(final bool) bool {
		b, err := stack.Ledger.Get(ctx, id)
		if err != nil {
			return false
		}
		states, err := stack.Ledger.PartitionStates(ctx, id)
		if err != nil {
			return false
		}
		n := 0
		for _, st := range states {
			if st == ledger.PartitionDone || st == ledger.PartitionFailed {
				n++
			}
		}
		total := b.PartitionCount
		if total == 0 {
			return false
		}
		complete := n == total
		if (tty && n != last) || ((final || complete) && last != total) {
			const width = 30
			filled := n * width / total
			outMu.Lock()
			if tty {
				fmt.Fprint(w, "\r")
			}
			fmt.Fprintf(w, "   [%s%s] %d/%d partitions in staging", strings.Repeat("#", filled), strings.Repeat(".", width-filled), n, total)
			if complete || final || !tty {
				fmt.Fprintln(w)
			}
			outMu.Unlock()
			last = n
		}
		return complete
	}
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				draw(true)
				return
			case <-tick.C:
				if draw(false) {
					return
				}
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// outMu serialises the demo's writers (progress bar, events).
var outMu sync.Mutex

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// indent returns a writer that indents every line by four spaces (the
// notifications printed during the demo).
func indent(w io.Writer) io.Writer { return &indenter{w: w, bol: true} }

type indenter struct {
	w   io.Writer
	bol bool
}

func (in *indenter) Write(p []byte) (int, error) {
	outMu.Lock()
	defer outMu.Unlock()
	var b strings.Builder
	for _, c := range string(p) {
		if in.bol {
			b.WriteString("   │ ")
			in.bol = false
		}
		b.WriteRune(c)
		if c == '\n' {
			in.bol = true
		}
	}
	if _, err := io.WriteString(in.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}

func indentText(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n")
}
