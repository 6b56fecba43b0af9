package main

import (
	"context"
	"fmt"

	"cloud.google.com/go/civil"
	"github.com/spf13/cobra"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

func init() {
	register(func(io IO) *cobra.Command { return newScheduledCmd(io, scheduledRun) })
}

// scheduledOptions are scheduled's parsed command line.
type scheduledOptions struct {
	IO                    IO
	Tree                  treeFlags
	Today                 civil.Date
	Status                backfill.Status
	Target                string
	IgnoreOldEntries      bool
	IgnoreMissingMetadata bool
	Tables                []warehouse.TableRef
}

func newScheduledCmd(io IO, runF func(context.Context, *scheduledOptions) error) *cobra.Command {
	o := &scheduledOptions{IO: io}
	var today, status string
	cmd := &cobra.Command{
		Use:   "scheduled [TABLE]",
		Short: "List the entries that require processing, as far as the files tell",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := maxArgs(args, 1, "scheduled", "one TABLE"); err != nil {
				return err
			}
			var err error
			if o.Status, err = parseStatus(status); err != nil {
				return err
			}
			if o.Today, err = parseToday(today); err != nil {
				return err
			}
			if o.Tables, err = parseTables(args); err != nil {
				return err
			}
			return runF(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	o.Tree.add(fs, true)
	addToday(fs, &today)
	fs.StringVar(&status, "status", "Initiate", "the status to schedule: Initiate or Complete (any case)")
	fs.StringVar(&o.Target, "target", "", "name staging and backup tables in this target's project")
	fs.BoolVar(&o.IgnoreOldEntries, "ignore-old-entries", false, "skip entries older than the maximum entry age (28 days)")
	fs.BoolVar(&o.IgnoreMissingMetadata, "ignore-missing-metadata", false, "skip tables that have no metadata.yaml")
	return cmd
}

// scheduledEntry is one element of scheduled --json: the fields of the
// reference's detect_backfills output (§7.1) plus status and entry_hash.
type scheduledEntry struct {
	Table     string   `json:"qualified_table_name"`
	EntryDate string   `json:"entry_date"`
	Watchers  []string `json:"watchers"`
	Staging   string   `json:"staging_table"`
	Backup    string   `json:"backup_table"`
	Status    string   `json:"status"`
	EntryHash string   `json:"entry_hash"`
}

func scheduledRun(ctx context.Context, o *scheduledOptions) error {
	io, want, today, ignoreOld, ignoreMissing := o.IO, o.Status, o.Today, o.IgnoreOldEntries, o.IgnoreMissingMetadata
	tree, settings, err := openTree(o.Tree.sqlDir)
	if err != nil {
		return err
	}
	tgt, err := lookupTarget(settings, o.Target)
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
	reportProblems(io.Err, loaded.problems)
	opts := backfill.Options{Today: today, Settings: settings, IgnoreMissingMetadata: ignoreMissing}
	out := []scheduledEntry{}
	problems := len(loaded.problems)
	for _, t := range tables {
		if err := ctx.Err(); err != nil {
			return err
		}
		var matching []*backfill.Entry
		if t.File != nil && want != backfill.Cancelled {
			matching = t.File.WithStatus(want)
		}
		if len(matching) == 0 {
			if t.File == nil || t.File.Broken() {
				problems++
				fmt.Fprintf(io.Err, "%s: backfill.yaml cannot be read, skipped:\n", t.Ref)
				for _, e := range t.FileErrors {
					fmt.Fprintln(io.Err, "  "+e.Error())
				}
			}
			continue
		}
		if want == backfill.Initiate && len(matching) > 1 {
			problems++
			fmt.Fprintf(io.Err, "%s: more than one backfill entry found with status Initiate (%s and %s), skipped [R1]\n", t.Ref, matching[0].Key(), matching[1].Key())
			continue
		}
		e := matching[0]
		if ignoreOld && e.EntryDate.Before(today.AddDays(-settings.MaxEntryAgeDays)) {
			fmt.Fprintf(io.Err, "Skipping backfill for %s because entry date is too old. [R2]\n", t.Ref)
			continue
		}
		if ignoreMissing && !t.HasMetadata {
			fmt.Fprintf(io.Err, "Skipping backfill for %s because table metadata is missing. [R3]\n", t.Ref)
			continue
		}
		res := backfill.Validate(t, opts)
		if errs := res.ErrorsFor(e.EntryDate); len(errs) > 0 {
			problems++
			fmt.Fprintf(io.Err, "%s: entry %s is not valid, skipped:\n", t.Ref, e.Key())
			for _, v := range errs {
				fmt.Fprintln(io.Err, "  "+v.Error())
			}
			continue
		}
		out = append(out, scheduledEntry{
			Table:     t.Ref.String(),
			EntryDate: e.Key(),
			Watchers:  append([]string{}, e.Watchers...),
			Staging:   backfill.StagingTable(t.Ref, e.EntryDate, settings, tgt).String(),
			Backup:    backfill.BackupTable(t.Ref, e.EntryDate, settings, tgt).String(),
			Status:    string(e.Status),
			EntryHash: e.Hash(),
		})
		if !o.Tree.json {
			fmt.Fprintf(io.Out, "Backfill scheduled for %s:\n%s\n", t.Ref, e.String())
		}
	}
	if o.Tree.json {
		if err := writeJSON(io.Out, out); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(io.Out, "%d backfill(s) require processing.\n", len(out))
	}
	if problems > 0 {
		fmt.Fprintf(io.Err, "%d table(s) were skipped because of the problems above.\n", problems)
		return errSilent
	}
	return nil
}
