package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

func init() {
	register(func(io IO) *cobra.Command { return newInfoCmd(io, infoRun) })
}

// infoOptions are info's parsed command line.
type infoOptions struct {
	IO     IO
	Tree   treeFlags
	Status backfill.Status // "": every status
	Tables []warehouse.TableRef
}

func newInfoCmd(io IO, runF func(context.Context, *infoOptions) error) *cobra.Command {
	o := &infoOptions{IO: io}
	var status string
	cmd := &cobra.Command{
		Use:   "info [TABLE]",
		Short: "List the backfill entries of one table or of every table",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := maxArgs(args, 1, "info", "one TABLE"); err != nil {
				return err
			}
			var err error
			if o.Status, err = parseStatus(status); err != nil {
				return err
			}
			if o.Tables, err = parseTables(args); err != nil {
				return err
			}
			return runF(cmd.Context(), o)
		},
	}
	o.Tree.add(cmd.Flags(), true)
	cmd.Flags().StringVar(&status, "status", "", "only entries with this status: Initiate, Complete or Cancelled (any case)")
	return cmd
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

func infoRun(ctx context.Context, o *infoOptions) error {
	io, want := o.IO, o.Status
	tree, _, err := openTree(o.Tree.sqlDir)
	if err != nil {
		return err
	}
	loaded, err := loadTables(ctx, tree, o.Tables, o.Tree.projectID)
	if err != nil {
		return err
	}
	if len(loaded.missing) > 0 {
		return fmt.Errorf("%s does not exist under %s", loaded.missing[0], tree.Display(""))
	}
	tables := loaded.tables
	out := []infoEntry{}
	reportProblems(io.Err, loaded.problems)
	broken := len(loaded.problems)
	total := 0
	for _, t := range tables {
		if err := ctx.Err(); err != nil {
			return err
		}
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
		if o.Tree.json {
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
	if o.Tree.json {
		if err := writeJSON(io.Out, out); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(io.Out, "There are a total of %d backfill(s).\n", total)
	}
	if broken > 0 {
		fmt.Fprintf(io.Err, "%d backfill.yaml file(s) or table directories cannot be read (shown above); run 'bqbackfill validate' for details.\n", broken)
		return errSilent
	}
	return nil
}
