package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
)

func init() {
	register(command{
		name:    "info",
		summary: "list the backfill entries of one table or of every table",
		run:     runInfo,
	})
}

// infoEntry is one element of info --json: the entry's fields plus its
// table and file.
type infoEntry struct {
	Table string
	File  string
	Entry *backfill.Entry
}

// MarshalJSON puts qualified_table_name and file before the entry's fields.
func (e infoEntry) MarshalJSON() ([]byte, error) {
	head, err := json.Marshal(struct {
		Table string `json:"qualified_table_name"`
		File  string `json:"file"`
	}{e.Table, e.File})
	if err != nil {
		return nil, fmt.Errorf("encode entry of %s: %w", e.Table, err)
	}
	body, err := e.Entry.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return append(append(head[:len(head)-1], ','), body[1:]...), nil
}

// filesStatusFlag reads --status in any letter case ("" when unset).
func filesStatusFlag(s string) (backfill.Status, error) {
	if s == "" {
		return "", nil
	}
	st, err := backfill.ParseStatus(s)
	if err != nil {
		return "", usagef("--status: %v", err)
	}
	return st, nil
}

func runInfo(ctx context.Context, args []string, io IO) error {
	fs := filesFlagSet("info", "info [TABLE] [--status S] [--json] [--sql-dir DIR] [--project-id P]", io)
	var ff filesFlags
	ff.register(fs, false)
	var status string
	fs.StringVar(&status, "status", "", "only entries with this status: Initiate, Complete or Cancelled (any case)")
	pos, err := filesParse(fs, args)
	if err != nil {
		return filesRun(err)
	}
	if len(pos) > 1 {
		return usagef("info takes at most one TABLE, got %d", len(pos))
	}
	want, err := filesStatusFlag(status)
	if err != nil {
		return err
	}
	tree, _, err := filesOpen(ff.sqlDir)
	if err != nil {
		return err
	}
	tables, missing, err := filesLoad(ctx, tree, pos, ff.projectID)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s does not exist under %s", missing[0], tree.Display(""))
	}
	out := []infoEntry{}
	broken := 0
	total := 0
	for _, t := range tables {
		if t.File == nil || t.File.Broken() {
			broken++
			for _, e := range t.FileErrors {
				fmt.Fprintln(io.Err, e.Error())
			}
			continue
		}
		if len(t.FileErrors) > 0 {
			fmt.Fprintf(io.Err, "note: %s has %d problem(s); run 'bqbackfill validate %s'\n", t.File.Path, len(t.FileErrors), t.Ref)
		}
		var entries []*backfill.Entry
		for _, e := range t.File.Entries {
			if want == "" || e.Status == want {
				entries = append(entries, e)
			}
		}
		total += len(entries)
		if ff.jsonOut {
			for _, e := range entries {
				out = append(out, infoEntry{Table: t.Ref.String(), File: t.File.Path, Entry: e})
			}
			continue
		}
		if len(entries) == 0 && want != "" {
			continue
		}
		with := ""
		if want != "" {
			with = fmt.Sprintf(" with %s status", want)
		}
		fmt.Fprintf(io.Out, "%s has %d backfill(s)%s:\n", t.Ref, len(entries), with)
		for _, e := range entries {
			fmt.Fprintf(io.Out, "\n%s", e.String())
		}
		fmt.Fprintln(io.Out)
	}
	if ff.jsonOut {
		if err := filesJSON(io.Out, out); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(io.Out, "There are a total of %d backfill(s).\n", total)
	}
	if broken > 0 {
		fmt.Fprintf(io.Err, "%d backfill.yaml file(s) cannot be read (shown above); run 'bqbackfill validate' for details.\n", broken)
		return errSilent
	}
	return nil
}
