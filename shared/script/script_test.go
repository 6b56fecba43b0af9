package script

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/civil"
)

// needPython skips the test when no python3 is installed.
func needPython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skipf("python3 is not installed (%v); query-script tests need a real interpreter", err)
	}
}

// fixture returns the absolute directory of testdata/<name>.
func fixture(t *testing.T, name string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the script did not write its report: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("report %s: %v", path, err)
	}
	return m
}

var day = civil.Date{Year: 2024, Month: 1, Day: 2}

func TestRunPlainFunction(t *testing.T) {
	needPython(t)
	dir := fixture(t, "plain")
	out := filepath.Join(t.TempDir(), "report.json")
	r := &Runner{Env: []string{"BQBACKFILL_TEST_ENV=from-runner"}}
	spec := Spec{Dir: dir, Script: filepath.Join(dir, "query.py"), Entrypoint: "main", DateArg: "date", Date: day,
		Args: []string{"--out", out, "--destination_table", "p.backfills_staging_derived.d__t_2024_01_02"}}
	res, err := r.Run(context.Background(), spec)
	if err != nil {
		t.Fatalf("Run: %v\nstderr: %s", err, res.Stderr)
	}
	wantArgv := []string{"--date", "2024-01-02", "--out", out, "--destination_table", "p.backfills_staging_derived.d__t_2024_01_02"}
	if !reflect.DeepEqual(res.Argv, wantArgv) {
		t.Errorf("Result.Argv = %q, want %q", res.Argv, wantArgv)
	}
	if res.ExitCode != 0 || res.Stdout != "wrote "+out+"\n" {
		t.Errorf("exit %d stdout %q", res.ExitCode, res.Stdout)
	}
	got := readJSON(t, out)
	wantDir, _ := filepath.EvalSymlinks(dir)
	gotDir, _ := filepath.EvalSymlinks(fmt.Sprint(got["cwd"]))
	want := map[string]any{
		"date": "2024-01-02", "destination_table": "p.backfills_staging_derived.d__t_2024_01_02", "dry_run": false,
		"argv":   []any{filepath.Join(dir, "query.py"), "--date", "2024-01-02", "--out", out, "--destination_table", "p.backfills_staging_derived.d__t_2024_01_02"},
		"module": "bqbackfill_query_script", "helper": "hello from helper", "env": "from-runner", "calls": float64(1),
	}
	delete(got, "cwd")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the script saw\n%v\nwant\n%v", got, want)
	}
	if gotDir != wantDir {
		t.Errorf("working directory = %s, want the table directory %s", gotDir, wantDir)
	}
	if _, err := os.Stat(filepath.Join(dir, "__pycache__")); err == nil {
		t.Errorf("the run wrote __pycache__ into the table directory")
	}
}

func TestRunRelativeScriptAndDefaultDir(t *testing.T) {
	needPython(t)
	dir := fixture(t, "plain")
	tmp := t.TempDir()
	r := &Runner{}
	// A relative script path is relative to Dir.
	out := filepath.Join(tmp, "a.json")
	if _, err := r.Run(context.Background(), Spec{Dir: dir, Script: "query.py", Entrypoint: "main", DateArg: "date", Date: day, Args: []string{"--out", out}}); err != nil {
		t.Fatalf("relative script: %v", err)
	}
	if got := readJSON(t, out); got["date"] != "2024-01-02" {
		t.Errorf("relative script saw %v", got)
	}
	// Without Dir the script runs in its own directory.
	out = filepath.Join(tmp, "b.json")
	if _, err := r.Run(context.Background(), Spec{Script: filepath.Join(dir, "query.py"), Entrypoint: "main", DateArg: "date", Date: day, Args: []string{"--out", out}}); err != nil {
		t.Fatalf("no Dir: %v", err)
	}
	wantDir, _ := filepath.EvalSymlinks(dir)
	gotDir, _ := filepath.EvalSymlinks(fmt.Sprint(readJSON(t, out)["cwd"]))
	if gotDir != wantDir {
		t.Errorf("working directory without Dir = %s, want %s", gotDir, wantDir)
	}
}

func TestRunClickCommand(t *testing.T) {
	needPython(t)
	dir := fixture(t, "clicklike")
	out := filepath.Join(t.TempDir(), "report.json")
	res, err := (&Runner{}).Run(context.Background(), Spec{Dir: dir, Script: "query.py", Entrypoint: "main", DateArg: "submission-date",
		Date: civil.Date{Year: 2023, Month: 12, Day: 31}, Args: []string{"--out", out}})
	if err != nil {
		t.Fatalf("Run: %v\nstderr: %s", err, res.Stderr)
	}
	got := readJSON(t, out)
	args := []any{"--submission-date", "2023-12-31", "--out", out}
	if !reflect.DeepEqual(got["args"], args) || got["standalone_mode"] != false {
		t.Errorf("click command called with %v standalone_mode=%v; want main(args=%v, standalone_mode=False)", got["args"], got["standalone_mode"], args)
	}

	// An object without main and params is called as a plain function.
	out2 := filepath.Join(t.TempDir(), "plain.json")
	if _, err := (&Runner{}).Run(context.Background(), Spec{Dir: dir, Script: "query.py", Entrypoint: "plain_fn", DateArg: "date", Date: day, Args: []string{"--out", out2}}); err != nil {
		t.Fatalf("plain_fn: %v", err)
	}
	if got := readJSON(t, out2)["sys_argv"]; !reflect.DeepEqual(got, []any{filepath.Join(dir, "query.py"), "--date", "2024-01-02", "--out", out2}) {
		t.Errorf("plain_fn saw sys.argv = %v", got)
	}
}

func TestRunDryRunArgument(t *testing.T) {
	needPython(t)
	dir := fixture(t, "plain")
	tests := []struct {
		name    string
		dryRun  bool
		wantArg []any
		wantDry bool
	}{
		{"real run", false, nil, false},
		{"dry run", true, []any{"--dry_run"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "report.json")
			spec := Spec{Dir: dir, Script: "query.py", Entrypoint: "main", DateArg: "date", Date: day,
				Args: []string{"--out", out}, DryRunArg: "--dry_run", DryRun: tt.dryRun}
			if _, err := (&Runner{}).Run(context.Background(), spec); err != nil {
				t.Fatalf("Run: %v", err)
			}
			got := readJSON(t, out)
			want := append([]any{filepath.Join(dir, "query.py"), "--date", "2024-01-02", "--out", out}, tt.wantArg...)
			if !reflect.DeepEqual(got["argv"], want) || got["dry_run"] != tt.wantDry {
				t.Errorf("argv = %v dry_run = %v, want %v and %v (the dry-run argument last)", got["argv"], got["dry_run"], want, tt.wantDry)
			}
		})
	}
}

func TestSpecArgv(t *testing.T) {
	s := Spec{DateArg: "date", Date: day, Args: []string{"--a", "1"}, DryRunArg: "--dry-run"}
	if got, want := s.Argv(), []string{"--date", "2024-01-02", "--a", "1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Argv() = %q, want %q", got, want)
	}
	s.DryRun = true
	if got, want := s.Argv(), []string{"--date", "2024-01-02", "--a", "1", "--dry-run"}; !reflect.DeepEqual(got, want) {
		t.Errorf("dry-run Argv() = %q, want %q", got, want)
	}
	if s.Args[len(s.Args)-1] != "1" {
		t.Errorf("Argv modified Spec.Args: %q", s.Args)
	}
}

func TestRunFailures(t *testing.T) {
	needPython(t)
	failing := fixture(t, "failing")
	tests := []struct {
		name       string
		dir        string
		entrypoint string
		code       int
		inTail     []string
		notInTail  []string
	}{
		{"exception", failing, "main", 1, []string{"starting", "ValueError: boom: partition 2024-01-02 is bad", "Traceback"}, nil},
		{"exit status, stdout quoted when stderr is empty", failing, "exit3", 3, []string{"out only"}, nil},
		{"only the last lines", failing, "noisy", 1, []string{"line 999", "line 980"}, []string{"line 979", "xxxx"}},
		{"import error", fixture(t, "importfail"), "main", 1, []string{"RuntimeError: cannot import: missing configuration"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := (&Runner{}).Run(context.Background(), Spec{Dir: tt.dir, Script: "query.py", Entrypoint: tt.entrypoint, DateArg: "date", Date: day})
			var ee *ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("error = %v, want an *ExitError", err)
			}
			if ee.Code != tt.code || res.ExitCode != tt.code {
				t.Errorf("exit code = %d (result %d), want %d", ee.Code, res.ExitCode, tt.code)
			}
			for _, s := range tt.inTail {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not quote %q", err, s)
				}
			}
			for _, s := range tt.notInTail {
				if strings.Contains(ee.Tail, s) {
					t.Errorf("tail %q should not contain %q", ee.Tail, s)
				}
			}
			if !strings.Contains(err.Error(), "query.py --date 2024-01-02") {
				t.Errorf("error %q does not say which run failed", err)
			}
		})
	}
}

func TestRunEntrypointErrors(t *testing.T) {
	needPython(t)
	tests := []struct{ dir, entrypoint, want string }{
		{"plain", "missing_fn", `entrypoint 'missing_fn' not found in`},
		{"plain", "not_callable", `entrypoint 'not_callable' in`},
		{"failing", "not_callable", "is not callable (it is a dict)"},
	}
	for _, tt := range tests {
		_, err := (&Runner{}).Run(context.Background(), Spec{Dir: fixture(t, tt.dir), Script: "query.py", Entrypoint: tt.entrypoint, DateArg: "date", Date: day})
		if !errors.Is(err, ErrEntrypoint) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %s: error = %v, want ErrEntrypoint saying %q", tt.dir, tt.entrypoint, err, tt.want)
		}
		var ee *ExitError
		if errors.As(err, &ee) {
			t.Errorf("%s: an entrypoint error should not be an ExitError", tt.entrypoint)
		}
	}
}

func TestRunInvalidSpecs(t *testing.T) {
	dir := fixture(t, "plain")
	ok := Spec{Dir: dir, Script: "query.py", Entrypoint: "main", DateArg: "date", Date: day}
	tests := []struct {
		name   string
		change func(*Spec)
		runner Runner
		want   string
	}{
		{"no script", func(s *Spec) { s.Script = "" }, Runner{}, "no script path"},
		{"no entrypoint", func(s *Spec) { s.Entrypoint = "" }, Runner{}, "no entrypoint"},
		{"no date arg", func(s *Spec) { s.DateArg = "" }, Runner{}, "no date argument"},
		{"dashed date arg", func(s *Spec) { s.DateArg = "--date" }, Runner{}, "without dashes"},
		{"invalid date", func(s *Spec) { s.Date = civil.Date{Year: 2024, Month: 2, Day: 30} }, Runner{}, "invalid date"},
		{"dry run without the argument", func(s *Spec) { s.DryRun = true }, Runner{}, "dry-run argument"},
		{"missing script file", func(s *Spec) { s.Script = "nope.py" }, Runner{}, "no such file"},
		{"script is a directory", func(s *Spec) { s.Dir = filepath.Dir(dir); s.Script = "plain" }, Runner{}, "is a directory"},
		{"missing directory", func(s *Spec) { s.Dir = filepath.Join(dir, "nope"); s.Script = filepath.Join(dir, "query.py") }, Runner{}, "working directory"},
		{"missing interpreter", func(*Spec) {}, Runner{Python: filepath.Join(dir, "no-such-python3")}, "python interpreter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.change(&s)
			_, err := tt.runner.Run(context.Background(), s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestRunParallelRunsShareNoState runs 8 dates at once. Each script waits
// until all 8 have started before reading its arguments back, so the runs
// overlap for certain; each must still see only its own date, in its own
// process, with its module's globals untouched by the others.
func TestRunParallelRunsShareNoState(t *testing.T) {
	needPython(t)
	const n = 8
	dir := fixture(t, "parallel")
	outDir := t.TempDir()
	r := &Runner{Timeout: 3 * time.Minute}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = r.Run(context.Background(), Spec{Dir: dir, Script: "query.py", Entrypoint: "main", DateArg: "date",
				Date: day.AddDays(i), Args: []string{"--out-dir", outDir, "--n", strconv.Itoa(n)}})
		}()
	}
	wg.Wait()
	pids := map[any]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("run %d: %v", i, errs[i])
		}
		date := day.AddDays(i).String()
		got := readJSON(t, filepath.Join(outDir, date+".json"))
		want := []any{filepath.Join(dir, "query.py"), "--date", date, "--out-dir", outDir, "--n", strconv.Itoa(n)}
		if got["date"] != date || got["state"] != date || got["argv_date_after_barrier"] != date || !reflect.DeepEqual(got["sys_argv"], want) {
			t.Errorf("run for %s saw %v", date, got)
		}
		if got["calls"] != float64(1) {
			t.Errorf("run for %s: module called %v times, want 1 (a fresh interpreter per run)", date, got["calls"])
		}
		pids[got["pid"]] = true
	}
	if len(pids) != n {
		t.Errorf("%d distinct processes for %d runs", len(pids), n)
	}
}

// waitForFile polls for a file a script writes once it is running.
func waitForFile(t *testing.T, path string, done <-chan struct{}) map[string]any {
	t.Helper()
	for {
		if _, err := os.Stat(path); err == nil {
			return readJSON(t, path)
		}
		select {
		case <-done:
			t.Fatalf("the script ended before writing %s", path)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// gone reports whether pid no longer runs (exited, or a zombie nobody has
// reaped yet).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && (fields[0] == "Z" || fields[0] == "X")
}

func assertGone(t *testing.T, what string, pid int) {
	t.Helper()
	if runtime.GOOS != "linux" {
		return
	}
	for range 500 {
		if gone(pid) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%s (pid %d) is still running", what, pid)
}

func TestRunCancellationKillsTheProcessGroup(t *testing.T) {
	needPython(t)
	dir := fixture(t, "sleeper")
	out := filepath.Join(t.TempDir(), "pids.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		_, err = (&Runner{}).Run(ctx, Spec{Dir: dir, Script: "query.py", Entrypoint: "main", DateArg: "date", Date: day, Args: []string{"--out", out}})
	}()
	pids := waitForFile(t, out, done)
	cancel()
	<-done
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "stopped") {
		t.Errorf("error = %v, want one wrapping context.Canceled", err)
	}
	assertGone(t, "the script", int(pids["pid"].(float64)))
	assertGone(t, "the script's child", int(pids["child"].(float64)))
}

func TestRunTimeout(t *testing.T) {
	needPython(t)
	dir := fixture(t, "sleeper")
	out := filepath.Join(t.TempDir(), "pids.json")
	var live bytes.Buffer
	r := &Runner{Timeout: 2 * time.Second, Output: &live}
	_, err := r.Run(context.Background(), Spec{Dir: dir, Script: "query.py", Entrypoint: "main", DateArg: "date", Date: day, Args: []string{"--out", out}})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 2s") {
		t.Fatalf("error = %v, want a timeout wrapping context.DeadlineExceeded", err)
	}
	// The script got far enough to start its child before it was killed.
	pids := readJSON(t, out)
	assertGone(t, "the script's child", int(pids["child"].(float64)))
}

func TestRunOutputCapture(t *testing.T) {
	needPython(t)
	var live bytes.Buffer
	r := &Runner{MaxOutput: 1000, Output: &live}
	res, err := r.Run(context.Background(), Spec{Dir: fixture(t, "failing"), Script: "query.py", Entrypoint: "noisy", DateArg: "date", Date: day})
	if err == nil {
		t.Fatal("noisy exits 1; want an error")
	}
	if len(res.Stdout) != 1000 || res.StdoutDropped != 199_000 || strings.Trim(res.Stdout, "x") != "" {
		t.Errorf("stdout kept %d bytes, dropped %d; want the last 1000 of 200000", len(res.Stdout), res.StdoutDropped)
	}
	if len(res.Stderr) != 1000 || !strings.HasSuffix(res.Stderr, "line 999\n") || res.StderrDropped == 0 {
		t.Errorf("stderr kept %d bytes ending %q, dropped %d", len(res.Stderr), res.Stderr[len(res.Stderr)-10:], res.StderrDropped)
	}
	if !strings.Contains(live.String(), "line 0\n") || !strings.Contains(live.String(), "line 999\n") || strings.Count(live.String(), "x") != 200_000 {
		t.Errorf("the live output is missing parts of the script's output (%d bytes)", live.Len())
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{limit: 4}
	for _, s := range []string{"ab", "cdef", "g", "hijklmnop", "q"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got := b.String(); got != "nopq" || b.dropped != 13 {
		t.Errorf("tail = %q dropped %d, want \"nopq\" and 13", got, b.dropped)
	}
	if got := lastLines("a\nb\nc\n\n", 2); got != "b\nc" {
		t.Errorf("lastLines = %q", got)
	}
	if got := lastLines(" \n", 2); got != "" {
		t.Errorf("lastLines(blank) = %q", got)
	}
}
