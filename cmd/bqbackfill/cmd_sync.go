package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"cloud.google.com/go/storage"

	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
	"github.com/bqbackfill/bqbackfill/shared/treestore"
)

func init() {
	register(command{name: "sync", summary: "upload a sql/ tree to the sync bucket (its manifest triggers the scanner)", run: runSync})
}

func runSync(ctx context.Context, args []string, io IO) error {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	fs.SetOutput(io.Err)
	var sf stackFlags
	sf.register(fs)
	var sqlDir, bucket, source string
	for _, n := range []string{"sql-dir", "sql_dir"} {
		fs.StringVar(&sqlDir, n, "sql", "the sql/ tree to upload")
	}
	fs.StringVar(&bucket, "bucket", "", "the production sync bucket (or $"+cloudenv.VarSQLBucket+"); unset means the local state directory")
	fs.StringVar(&source, "source", "", "what the tree was built from, e.g. a commit id (recorded in the manifest)")
	pos, err := filesParse(fs, args)
	if err != nil {
		return filesRun(err)
	}
	if len(pos) > 0 {
		return usagef("sync takes no arguments, got %q", pos)
	}
	if st, err := os.Stat(sqlDir); err != nil || !st.IsDir() {
		return usagef("--sql-dir %s is not a directory", sqlDir)
	}
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
		return nil
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
	return nil
}
