package local

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/treescan"
)

// TestQueryScriptCleanEnvironment: a query.py run by the stack sees the
// names its tree allows in bqbackfill.yaml script_env, never the rest of
// bqbackfill's environment (review: hostile input, item 15).
func TestQueryScriptCleanEnvironment(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not on PATH")
	}
	t.Setenv("BQBACKFILL_TEST_SECRET", "hunter2")
	t.Setenv("BQBACKFILL_TEST_ALLOWED", "yes")
	s, _ := specialStack(t)
	staging := stagingOf(scriptTable, testToday)
	e := specialEntry{date: testToday, start: "2024-03-02", end: "2024-03-02", fields: []string{
		"query_script_entrypoint: main", "query_script_date_arg: submission_date",
		"query_script_args:", "- --destination_table=" + staging.String(),
	}}
	sqlDir := specialTree(t, scriptTable, e)
	writeTreeFile(t, filepath.Join(sqlDir, "bqbackfill.yaml"), "script_env:\n- BQBACKFILL_TEST_ALLOWED\n")
	script := filepath.Join(tableDir(sqlDir, scriptTable), "query.py")
	body, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	check := "import os as _os\n" +
		"if 'BQBACKFILL_TEST_SECRET' in _os.environ: raise SystemExit('the script sees BQBACKFILL_TEST_SECRET')\n" +
		"if _os.environ.get('BQBACKFILL_TEST_ALLOWED') != 'yes': raise SystemExit('the script lacks BQBACKFILL_TEST_ALLOWED')\n"
	writeTreeFile(t, script, check+string(body))
	runSpecial(t, s, sqlDir, treescan.Options{})
	requireSpecialState(t, s, pipeline.BackfillID(scriptTable, testToday), ledger.StateProcessed)
}
