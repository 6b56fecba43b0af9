package pipeline

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sync"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/config"
	"github.com/bqbackfill/bqbackfill/shared/script"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// ScriptRunner runs a query.py entrypoint for one date
// (shared/script.Runner implements it).
type ScriptRunner interface {
	Run(ctx context.Context, s script.Spec) (script.Result, error)
}

// treeDirs extracts synced trees to local directories, once per tree, so a
// script can import its neighbours. Trees are immutable, so a directory is
// never refreshed.
var treeDirs = struct {
	sync.Mutex
	dirs map[string]string
}{dirs: map[string]string{}}

func (p *Pipeline) treeDir(ctx context.Context, object string) (string, error) {
	treeDirs.Lock()
	defer treeDirs.Unlock()
	if d, ok := treeDirs.dirs[object]; ok {
		return d, nil
	}
	if p.Trees == nil {
		return "", fmt.Errorf("no tree store configured to read %s", object)
	}
	fsys, err := p.Trees.Open(ctx, object)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "bqbackfill-tree-")
	if err != nil {
		return "", fmt.Errorf("extract tree %s: %w", object, err)
	}
	if err := os.CopyFS(dir, fsys); err != nil {
		return "", fmt.Errorf("extract tree %s to %s: %w", object, dir, err)
	}
	treeDirs.dirs[object] = dir
	return dir, nil
}

// runScript runs a query.py table's script for one partition. The script
// writes wherever its arguments say (the entry's query_script_args should
// name the staging table); the row count reported is staging's partition
// count afterwards.
func (p *Pipeline) runScript(ctx context.Context, spec *Spec, part backfill.Partition) (warehouse.JobResult, error) {
	if p.Scripts == nil {
		return warehouse.JobResult{}, warehouse.Errorf(warehouse.FailedPrecondition, "script", "this worker cannot run query.py scripts (no python runner configured)")
	}
	root, err := p.treeDir(ctx, spec.Tree)
	if err != nil {
		return warehouse.JobResult{}, warehouse.Errorf(warehouse.Transient, "script", "%v", err)
	}
	date := part.Date
	// The tree recorded at start says which variables of this process's
	// environment its scripts may see (bqbackfill.yaml script_env).
	settings, err := config.Load(os.DirFS(root))
	if err != nil {
		return warehouse.JobResult{}, warehouse.Errorf(warehouse.InvalidArgument, "script", "%v", err)
	}
	scriptPath := filepath.Join(root, filepath.FromSlash(spec.Query.Path))
	run := script.Spec{
		Dir:        filepath.Join(root, filepath.FromSlash(path.Dir(spec.Query.Path))),
		Script:     scriptPath,
		Entrypoint: spec.Query.Entrypoint,
		DateArg:    spec.Query.DateArg,
		Date:       date,
		Args:       spec.Query.Args,
		DryRunArg:  spec.Query.DryRunArg,
		Inherit:    settings.ScriptEnv,
	}
	if spec.Query.DryRunArg != "" {
		dry := run
		dry.DryRun = true
		if _, err := p.Scripts.Run(ctx, dry); err != nil {
			return warehouse.JobResult{}, warehouse.Errorf(warehouse.InvalidArgument, "script", "dry run of %s for %s: %v", spec.Query.Path, part.Date, err)
		}
	}
	start := p.now()
	if _, err := p.Scripts.Run(ctx, run); err != nil {
		return warehouse.JobResult{}, warehouse.Errorf(warehouse.InvalidArgument, "script", "%s for %s: %v", spec.Query.Path, part.Date, err)
	}
	res := warehouse.JobResult{JobID: "script", RowsWritten: -1, Duration: p.now().Sub(start)}
	if parts, err := p.Warehouse.Partitions(ctx, spec.Staging); err == nil {
		for _, pt := range parts {
			if pt.ID == part.ID {
				res.RowsWritten = pt.Rows
			}
		}
	}
	return res, nil
}
