package main

import (
	"context"
	"fmt"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
)

func init() {
	register(command{
		name:    "scheduled",
		summary: "list the entries that require processing, as far as the files tell",
		run:     runScheduled,
	})
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

func runScheduled(ctx context.Context, args []string, io IO) error {
	fs := filesFlagSet("scheduled", "scheduled [TABLE] [--status S] [--json] [--today YYYY-MM-DD] [--target NAME] [--ignore-old-entries] [--ignore-missing-metadata] [--sql-dir DIR] [--project-id P]", io)
	var ff filesFlags
	ff.register(fs, true)
	status, target := "Initiate", ""
	var ignoreOld, ignoreMissing bool
	fs.StringVar(&status, "status", "Initiate", "the status to schedule: Initiate or Complete (any case)")
	fs.StringVar(&target, "target", "", "name staging and backup tables in this target's project")
	for _, n := range []string{"ignore-old-entries", "ignore_old_entries"} {
		fs.BoolVar(&ignoreOld, n, false, "skip entries older than the maximum entry age (28 days)")
	}
	for _, n := range []string{"ignore-missing-metadata", "ignore_missing_metadata"} {
		fs.BoolVar(&ignoreMissing, n, false, "skip tables that have no metadata.yaml")
	}
	pos, err := filesParse(fs, args)
	if err != nil {
		return filesRun(err)
	}
	if len(pos) > 1 {
		return usagef("scheduled takes at most one TABLE, got %d", len(pos))
	}
	want, err := filesStatusFlag(status)
	if err != nil {
		return err
	}
	today, err := filesToday(ff.today)
	if err != nil {
		return err
	}
	tree, settings, err := filesOpen(ff.sqlDir)
	if err != nil {
		return err
	}
	tgt, err := filesTarget(settings, target)
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
	opts := backfill.Options{Today: today, Settings: settings, IgnoreMissingMetadata: ignoreMissing}
	out := []scheduledEntry{}
	problems := 0
	for _, t := range tables {
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
		if !ff.jsonOut {
			fmt.Fprintf(io.Out, "Backfill scheduled for %s:\n%s\n", t.Ref, e.String())
		}
	}
	if ff.jsonOut {
		if err := filesJSON(io.Out, out); err != nil {
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
