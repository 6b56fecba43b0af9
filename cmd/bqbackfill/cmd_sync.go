package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"cloud.google.com/go/storage"
	"github.com/spf13/cobra"

	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
	"github.com/bqbackfill/bqbackfill/shared/treestore"
)

func init() {
	register(func(io IO) *cobra.Command { return newSyncCmd(io, syncRun) })
}

// syncOptions are sync's parsed command line.
type syncOptions struct {
	IO     IO
	Stack  stackFlags
	SQLDir string
	Bucket string // "": $BQBACKFILL_SQL_BUCKET, else the local state directory
	Source string
}

func newSyncCmd(io IO, runF func(context.Context, *syncOptions) error) *cobra.Command {
	o := &syncOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Upload a sql/ tree to the sync bucket (its manifest triggers the scanner)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("sync takes no arguments, got %q", args)
			}
			if err := requireDir(o.SQLDir, "--sql-dir"); err != nil {
				return err
			}
			return runF(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	o.Stack.add(fs)
	fs.StringVar(&o.SQLDir, "sql-dir", "sql", "the sql/ tree to upload")
	fs.StringVar(&o.Bucket, "bucket", "", "the production sync bucket (or $"+cloudenv.VarSQLBucket+"); unset means the local state directory")
	fs.StringVar(&o.Source, "source", "", "what the tree was built from, e.g. a commit id (recorded in the manifest)")
	return cmd
}

func syncRun(ctx context.Context, o *syncOptions) error {
	io, sqlDir, bucket, source, sf := o.IO, o.SQLDir, o.Bucket, o.Source, &o.Stack
	if source == "" {
		source = sqlDir
	}
	if bucket == "" {
		bucket = os.Getenv(cloudenv.VarSQLBucket)
	}
	var m treestore.Manifest
	if bucket != "" {
		client, err := storage.NewClient(ctx)
		if err != nil {
			return fmt.Errorf("storage client: %w", err)
		}
		defer client.Close()
		if m, err = treestore.Sync(ctx, client, bucket, sqlDir, source, time.Now()); err != nil {
			return err
		}
		fmt.Fprintf(io.Out, "Synced %d files (%d bytes) from %s to gs://%s/%s; manifest gs://%s/%s now names it.\n", m.Files, m.Bytes, sqlDir, bucket, m.Tree, bucket, treestore.ManifestObject)
		return reportSkipped(io, m)
	}
	stack, err := sf.open(ctx, io, io.Out)
	if err != nil {
		return err
	}
	defer stack.Close()
	if m, err = stack.Sync(ctx, sqlDir); err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "Synced %d files (%d bytes) from %s to the local bucket under %s (%s).\n", m.Files, m.Bytes, sqlDir, sf.stateDir, m.Tree)
	return reportSkipped(io, m)
}

// reportSkipped names the files the sync left out (links leaving the tree,
// devices, FIFOs, files over the size limit) and fails: the tree in the
// bucket is not the whole directory.
func reportSkipped(io IO, m treestore.Manifest) error {
	if len(m.Skipped) == 0 {
		return nil
	}
	for _, s := range m.Skipped {
		fmt.Fprintln(io.Err, "not synced: "+s)
	}
	fmt.Fprintf(io.Err, "%d file(s) were not synced (listed above); the other files were. Replace them with regular files inside the tree.\n", len(m.Skipped))
	return errSilent
}
