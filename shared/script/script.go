// Package script runs a query.py table's script for one partition, each run
// in a Python process of its own. bigquery-etl calls query.py entrypoints
// in-process from a thread pool and swaps the process-wide sys.argv under
// them (reference §10.2 item 14); here parallel runs share no interpreter
// state, so each sees only its own arguments.
//
// A small embedded bootstrap (bootstrap.py) imports the script as a module,
// fetches its entrypoint and calls it with bigquery-etl's convention:
// arguments ["--<date_arg>", "YYYY-MM-DD", *query_script_args], plus the
// dry-run argument on a dry run; a Click command gets them through
// main(args=..., standalone_mode=False), any other callable through
// sys.argv. The package needs only a python3 on PATH (or Runner.Python),
// never a pip package, and builds with CGO_ENABLED=0.
//
// A script is code from the tree, so it gets a clean environment (BaseEnv,
// the names its tree allows in bqbackfill.yaml script_env, and Runner.Env),
// never bqbackfill's secrets, and it does not outlive bqbackfill: it leads
// a process group of its own that is killed when the run is cancelled or
// times out, and on Linux when bqbackfill dies, even by SIGKILL (the
// parent-death signal asks the bootstrap to kill the whole group).
package script

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/civil"
)

//go:embed bootstrap.py
var bootstrap string

// bootstrapExit and bootstrapMark are how bootstrap.py reports a script it
// cannot call (keep in sync with it).
const (
	bootstrapExit = 86
	bootstrapMark = "bqbackfill-bootstrap: "
)

// DefaultMaxOutput is how many bytes of stdout, and of stderr, a Result
// keeps when Runner.MaxOutput is zero (the last ones).
const DefaultMaxOutput = 64 << 10

// tailLines is how many trailing stderr lines an ExitError quotes.
const tailLines = 20

// readerGrace bounds how long Run waits, after the script and its process
// group are gone, for the output pipes to drain.
const readerGrace = 5 * time.Second

// ErrEntrypoint is wrapped by Run's error when the script has no attribute
// named by the entrypoint, or it is not callable.
var ErrEntrypoint = errors.New("query script entrypoint is missing or not callable")

// Runner runs query scripts. The zero value is ready to use: python3 from
// PATH, no timeout, the current environment. A Runner is safe for
// concurrent use; every Run starts its own process.
type Runner struct {
	// Python is the interpreter to run; "" means "python3" looked up on
	// PATH.
	Python string
	// Timeout bounds one Run; 0 means only the context bounds it.
	Timeout time.Duration
	// Env holds KEY=VALUE entries set for every script on top of what it
	// inherits (an entry overrides an inherited one of the same key), e.g.
	// the local SQL endpoint's URL and token.
	Env []string
	// MaxOutput is how many bytes of stdout, and of stderr, are kept in a
	// Result (the last ones); 0 means DefaultMaxOutput.
	MaxOutput int
	// Output, when set, receives a live copy of the script's stdout and
	// stderr as they are written (for example the worker's log). Writes
	// are serialised.
	Output io.Writer
}

// Spec says which script to run, how, and for which date.
type Spec struct {
	// Dir is the table directory on disk; the script runs there. ""
	// means the script's own directory.
	Dir string
	// Script is the path of query.py or a custom .py file; a relative path
	// is taken relative to Dir.
	Script string
	// Entrypoint is the name of the callable in the script
	// (query_script_entrypoint).
	Entrypoint string
	// DateArg is the option name of the date, without dashes
	// (query_script_date_arg): "date" passes "--date YYYY-MM-DD".
	DateArg string
	// Date is the partition date passed to the script.
	Date civil.Date
	// Args follow the date (query_script_args).
	Args []string
	// DryRunArg is the script's dry-run argument, e.g. "--dry_run"
	// (query_script_dry_run_arg), appended verbatim when DryRun is set.
	DryRunArg string
	// DryRun runs the script with DryRunArg appended.
	DryRun bool
	// Inherit names variables of bqbackfill's environment the script
	// receives besides BaseEnv (bqbackfill.yaml script_env); nothing else
	// of that environment reaches it.
	Inherit []string
}

// Argv returns the arguments the entrypoint receives:
// ["--<DateArg>", "YYYY-MM-DD", *Args] and, on a dry run, DryRunArg last.
func (s Spec) Argv() []string {
	argv := append([]string{"--" + s.DateArg, s.Date.String()}, s.Args...)
	if s.DryRun {
		argv = append(argv, s.DryRunArg)
	}
	return argv
}

func (s Spec) validate() error {
	switch {
	case s.Script == "":
		return errors.New("no script path")
	case s.Entrypoint == "":
		return errors.New("no entrypoint (query_script_entrypoint)")
	case s.DateArg == "":
		return errors.New("no date argument (query_script_date_arg)")
	case strings.HasPrefix(s.DateArg, "-") || strings.ContainsAny(s.DateArg, " \t\r\n="):
		return fmt.Errorf("date argument %q must be an option name without dashes, such as \"date\"", s.DateArg)
	case !s.Date.IsValid():
		return fmt.Errorf("invalid date %v", s.Date)
	case s.DryRun && s.DryRunArg == "":
		return errors.New("a dry run needs the script's dry-run argument (query_script_dry_run_arg)")
	}
	return nil
}

// Result is what one run printed and how it ended.
type Result struct {
	// Argv is what the entrypoint received (Spec.Argv).
	Argv []string
	// Stdout and Stderr are the last MaxOutput bytes of each stream;
	// StdoutDropped and StderrDropped count the bytes dropped before them.
	Stdout, Stderr               string
	StdoutDropped, StderrDropped int64
	// ExitCode is the process's exit status; -1 when a signal ended it or
	// it never started.
	ExitCode int
	Duration time.Duration
}

// ExitError is returned when the script exits with a non-zero status.
type ExitError struct {
	Script string
	Argv   []string
	Code   int    // exit status, -1 when killed by a signal
	Detail string // how the process ended, e.g. "exit status 1"
	Tail   string // the last lines of stderr (or of stdout when stderr is empty)
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("query script %s %s failed: %s", e.Script, strings.Join(e.Argv, " "), e.Detail)
	if e.Tail != "" {
		msg += "; last output:\n" + e.Tail
	}
	return msg
}

// Run runs the script's entrypoint once for s.Date in a new python3
// process whose working directory is s.Dir, and waits for it. It returns
// an error wrapping ErrEntrypoint when the entrypoint is missing or not
// callable, an *ExitError when the script fails (with the last lines of
// its stderr), and an error wrapping ctx.Err() when the context is
// cancelled or the Runner's Timeout passes; in that case the script's
// whole process group is killed. The Result holds whatever was captured,
// also on error.
func (r *Runner) Run(ctx context.Context, s Spec) (Result, error) {
	res := Result{ExitCode: -1}
	if err := s.validate(); err != nil {
		return res, fmt.Errorf("query script %s: %w", s.Script, err)
	}
	res.Argv = s.Argv()
	script, dir, err := resolvePaths(s.Dir, s.Script)
	if err != nil {
		return res, fmt.Errorf("query script %s: %w", s.Script, err)
	}
	python := r.Python
	if python == "" {
		python = "python3"
	}
	pythonPath, err := exec.LookPath(python)
	if err != nil {
		return res, fmt.Errorf("query script %s: python interpreter: %w", s.Script, err)
	}

	runCtx := ctx
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}

	args := append([]string{"-u", "-c", bootstrap, script, s.Entrypoint}, res.Argv...)
	cmd := exec.Command(pythonPath, args...)
	cmd.Dir = dir
	cmd.Env = append(scriptEnv(os.Environ(), s.Inherit), r.Env...)
	setProcessGroup(cmd)

	limit := r.MaxOutput
	if limit <= 0 {
		limit = DefaultMaxOutput
	}
	stdout, stderr := &tailBuffer{limit: limit}, &tailBuffer{limit: limit}
	var live io.Writer
	if r.Output != nil {
		live = &lockedWriter{w: r.Output}
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return res, fmt.Errorf("query script %s: stdout pipe: %w", s.Script, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return res, fmt.Errorf("query script %s: stderr pipe: %w", s.Script, err)
	}
	defer outR.Close()
	defer errR.Close()
	cmd.Stdout, cmd.Stderr = outW, errW

	start := time.Now()
	wait, err := startLocked(cmd)
	// The child holds its own copies of the write ends; closing ours lets
	// the readers see EOF once every process of the group has exited.
	outW.Close()
	errW.Close()
	if err != nil {
		return res, fmt.Errorf("query script %s: start %s: %w", s.Script, pythonPath, err)
	}
	var readers sync.WaitGroup
	readers.Add(2)
	go drain(&readers, outR, stdout, live)
	go drain(&readers, errR, stderr, live)

	exited := make(chan struct{})
	go func() {
		select {
		case <-runCtx.Done():
			killProcessGroup(cmd.Process)
		case <-exited:
		}
	}()
	waitErr := wait()
	close(exited)
	res.Duration = time.Since(start)
	// Whatever the script left running in its process group goes with it.
	killProcessGroup(cmd.Process)
	drained := make(chan struct{})
	go func() { readers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(readerGrace):
		outR.Close()
		errR.Close()
		<-drained
	}

	res.Stdout, res.StdoutDropped = stdout.String(), stdout.dropped
	res.Stderr, res.StderrDropped = stderr.String(), stderr.dropped
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	if waitErr == nil {
		return res, nil
	}
	if ctxErr := runCtx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) && ctx.Err() == nil {
			return res, fmt.Errorf("query script %s %s: timed out after %s: %w", s.Script, strings.Join(res.Argv, " "), r.Timeout, ctxErr)
		}
		return res, fmt.Errorf("query script %s %s: stopped: %w", s.Script, strings.Join(res.Argv, " "), ctxErr)
	}
	if res.ExitCode == bootstrapExit {
		if msg, ok := bootstrapMessage(res.Stderr); ok {
			return res, fmt.Errorf("query script %s: %w: %s", s.Script, ErrEntrypoint, msg)
		}
	}
	var exitErr *exec.ExitError
	if !errors.As(waitErr, &exitErr) {
		return res, fmt.Errorf("query script %s: wait: %w", s.Script, waitErr)
	}
	tail := lastLines(res.Stderr, tailLines)
	if tail == "" {
		tail = lastLines(res.Stdout, tailLines)
	}
	return res, &ExitError{Script: s.Script, Argv: res.Argv, Code: res.ExitCode, Detail: exitErr.Error(), Tail: tail}
}

// startLocked starts cmd from a goroutine locked to its OS thread and
// waits for it there. Linux delivers the parent-death signal
// (setProcessGroup) when the thread that started the child ends, not the
// process, and the Go runtime may end idle threads: the locked thread lives
// until the child has exited.
func startLocked(cmd *exec.Cmd) (wait func() error, err error) {
	started := make(chan error, 1)
	waited := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		waited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return func() error { return <-waited }, nil
}

// resolvePaths returns the absolute script path and working directory,
// checking that both exist.
func resolvePaths(dir, script string) (string, string, error) {
	if dir != "" && !filepath.IsAbs(script) {
		script = filepath.Join(dir, script)
	}
	script, err := filepath.Abs(script)
	if err != nil {
		return "", "", err
	}
	if dir == "" {
		dir = filepath.Dir(script)
	}
	if st, err := os.Stat(dir); err != nil {
		return "", "", fmt.Errorf("working directory: %w", err)
	} else if !st.IsDir() {
		return "", "", fmt.Errorf("working directory %s is not a directory", dir)
	}
	if st, err := os.Stat(script); err != nil {
		return "", "", err
	} else if st.IsDir() {
		return "", "", fmt.Errorf("%s is a directory, not a Python file", script)
	}
	return script, dir, nil
}

// bootstrapMessage finds the bootstrap's own failure line in stderr.
func bootstrapMessage(stderr string) (string, bool) {
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	if msg, ok := strings.CutPrefix(last, bootstrapMark); ok {
		return msg, true
	}
	return "", false
}

// lastLines returns the last n non-empty-trailing lines of s.
func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n \t\r")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// drain copies one output pipe into its tail buffer and the live writer.
func drain(wg *sync.WaitGroup, r io.Reader, tail *tailBuffer, live io.Writer) {
	defer wg.Done()
	var w io.Writer = tail
	if live != nil {
		w = io.MultiWriter(tail, ignoreErrors{live})
	}
	// A read error means the pipe was closed after the grace period; what
	// was read so far is kept.
	_, _ = io.Copy(w, r)
}

// tailBuffer keeps the last limit bytes written to it.
type tailBuffer struct {
	limit   int
	buf     []byte
	dropped int64
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.limit; over > 0 && len(b.buf) >= 2*b.limit {
		b.dropped += int64(over)
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	if over := len(b.buf) - b.limit; over > 0 {
		b.dropped += int64(over)
		b.buf = b.buf[over:]
	}
	return string(bytes.ToValidUTF8(b.buf, []byte("\uFFFD")))
}

// lockedWriter serialises writes from the two output readers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// ignoreErrors keeps a failing live writer from stopping the capture.
type ignoreErrors struct{ w io.Writer }

func (i ignoreErrors) Write(p []byte) (int, error) {
	_, _ = i.w.Write(p)
	return len(p), nil
}
