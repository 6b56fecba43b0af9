package script

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// helperOut, when set in the environment, makes TestHelperRunsSleeper act
// as a bqbackfill process running the sleeper script.
const helperOut = "BQBACKFILL_SCRIPT_HELPER_OUT"

// TestHelperRunsSleeper is not a test: TestScriptDiesWithBqbackfill runs
// the test binary with only this function as the "bqbackfill" it kills.
func TestHelperRunsSleeper(t *testing.T) {
	out := os.Getenv(helperOut)
	if out == "" {
		t.Skip("helper process of TestScriptDiesWithBqbackfill")
	}
	(&Runner{}).Run(context.Background(), Spec{Dir: fixture(t, "sleeper"), Script: "query.py", Entrypoint: "main", DateArg: "date", Date: day, Args: []string{"--out", out}})
}

// TestScriptDiesWithBqbackfill: kill -9 of the process that runs a script
// takes the script and everything it started along (review: hostile input,
// item 15: a query.py child survived kill -9 of run as an orphan).
func TestScriptDiesWithBqbackfill(t *testing.T) {
	needPython(t)
	out := filepath.Join(t.TempDir(), "pids.json")
	helper := exec.Command(os.Args[0], "-test.run=^TestHelperRunsSleeper$")
	helper.Env = append(os.Environ(), helperOut+"="+out)
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { helper.Wait(); close(done) }()
	pids := waitForFile(t, out, done)
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-done
	assertGone(t, "the script", int(pids["pid"].(float64)))
	assertGone(t, "the script's child", int(pids["child"].(float64)))
}
