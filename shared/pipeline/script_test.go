package pipeline_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/script"
	"github.com/bqbackfill/bqbackfill/shared/treescan"
	"github.com/bqbackfill/bqbackfill/shared/treestore"
)

// queryPy records each run it is given as a file named "<kind>-<date>" in
// the directory of its --out argument, and fails for 2024-03-19.
const queryPy = `import os, sys

def main():
    args = sys.argv[1:]
    date = args[args.index("--submission_date") + 1]
    out = [a.split("=", 1)[1] for a in args if a.startswith("--out=")][0]
    kind = "dry" if "--dry_run" in args else "run"
    if date == "2024-03-19" and kind == "run":
        raise SystemExit("no visits for " + date)
    open(os.path.join(out, kind + "-" + date), "w").close()
`

// TestQueryScript: a query.py table's partitions run its script from the
// synced tree (extracted for the worker), with bigquery-etl's arguments —
// the date argument, the entry's query_script_args, a dry run first — each
// in its own process; a script that fails fails its partition, naming the
// script and the date; a worker without a Python runner fails partitions
// clearly instead of guessing.
func TestQueryScript(t *testing.T) {
	// The interpreter itself, not a version manager's shim in front of it:
	// each partition starts two processes.
	python, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Skip("python3 is not on PATH: the query.py test runs a real script")
	}
	out := t.TempDir()
	dir := t.TempDir()
	files := map[string]string{
		"metadata.yaml": strings.Replace(metadataYAML, "  depends_on_past: true\n", "", 1),
		"query.py":      queryPy,
		"backfill.yaml": strings.Replace(backfillYAML("Initiate"), "  status: Initiate\n", "  status: Initiate\n"+
			"  query_script_entrypoint: main\n  query_script_date_arg: submission_date\n  query_script_dry_run_arg: --dry_run\n"+
			"  query_script_args:\n  - --out="+out+"\n", 1),
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(tableDir), name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gcs, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gcs.Stop)
	gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "sql"})

	e := newContractEnv(t)
	m, err := treestore.Sync(e.ctx, gcs.Client(), "sql", dir, "test", now)
	if err != nil {
		t.Fatal(err)
	}
	e.p.Trees = treestore.NewTrees(gcs.Client(), "sql")
	e.p.Scripts = &script.Runner{Python: strings.TrimSpace(string(python))}
	desired, problems := treescan.Desired(e.ctx, os.DirFS(dir), treescan.Options{Now: now, Tree: m.Tree})
	if len(problems) > 0 || len(desired) != 1 {
		t.Fatalf("desired %+v, problems %+v", desired, problems)
	}
	if did, err := e.p.Reconcile(e.ctx, desired[0]); err != nil || did != "started" {
		t.Fatalf("Reconcile = %q, %v", did, err)
	}
	if w := e.writes(t); slices.ContainsFunc(w, func(s string) bool { return strings.HasPrefix(s, "tables.insert") }) {
		t.Errorf("start of a script wrote %q; the script creates its staging table itself", w)
	}

	if got := e.work(t); len(got) != len(days) {
		t.Fatalf("partitions handled %q", got)
	}
	runs, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range runs {
		names = append(names, r.Name())
	}
	if want := []string{"dry-2024-03-18", "dry-2024-03-19", "dry-2024-03-20", "run-2024-03-18", "run-2024-03-20"}; !slices.Equal(names, want) {
		t.Errorf("script runs %q, want %q", names, want)
	}
	for _, d := range []string{days[0], days[2]} {
		if r := e.partition(t, d); r.State != ledger.PartitionDone {
			t.Errorf("partition %s: %s %q", d, r.State, r.Error)
		}
	}
	if r := e.partition(t, days[1]); r.State != ledger.PartitionFailed || !strings.Contains(r.Error, tableDir+"query.py for 2024-03-19") || !strings.Contains(r.Error, "no visits for 2024-03-19") {
		t.Errorf("partition %s: %s %q, want failed naming the script, the date and its error", days[1], r.State, r.Error)
	}

	// A worker that cannot run Python fails the partition, saying why.
	if _, n, err := func() (string, int, error) {
		if ok, err := e.p.Finish(e.ctx, contractID); err != nil || !ok {
			t.Fatalf("Finish = %v, %v", ok, err)
		}
		return e.p.Retry(e.ctx, table)
	}(); err != nil || n != 1 {
		t.Fatalf("Retry = %d, %v", n, err)
	}
	e.p.Scripts = nil
	e.work(t)
	if r := e.partition(t, days[1]); r.State != ledger.PartitionFailed || !strings.Contains(r.Error, "this worker cannot run query.py scripts") {
		t.Errorf("partition %s on a worker without Python: %s %q", days[1], r.State, r.Error)
	}
}
