// Command bqbackfill manages BigQuery backfills declared in backfill.yaml
// files of a bigquery-etl style sql/ tree. Run "bqbackfill help" for the
// commands; exit codes are 0 (ok), 1 (failure, including validation
// problems), 2 (usage error).
//
// main only adapts the process to Main; root.go builds the command tree,
// flags.go holds the flags and argument parsers the commands share, and
// each command lives in its own cmd_<name>.go.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes, documented in the README and in "bqbackfill help".
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal cancels ctx, which every command checks; after it
	// the default handling returns, so a second Ctrl-C ends the process at
	// once even if some step does not stop.
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// IO carries a command's streams so tests can run commands in process.
type IO struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// usageError makes Main exit with code 2 and print the message with a hint.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errSilent exits 1 without printing anything more: the command already
// reported what failed (for example validate's list of problems).
var errSilent = errors.New("silent failure")

// errHelpShown exits 2 without a message: the help was printed because the
// command line said nothing to do.
var errHelpShown = errors.New("help shown")

// Main runs the command line args and returns the exit code. It is the one
// place that turns errors into exit codes and messages.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(IO{In: stdin, Out: stdout, Err: stderr})
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	path := "bqbackfill"
	if cmd != nil {
		path = cmd.CommandPath()
	}
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errSilent):
		return exitFailure
	case errors.Is(err, errHelpShown):
		return exitUsage
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "Error: %s\nRun '%s --help' for usage.\n", ue.msg, path)
		return exitUsage
	case ctx.Err() != nil:
		// A signal, not a failure of the input: say so instead of the
		// wrapped "context canceled" of whatever step was running (its
		// client may not wrap context.Canceled: gRPC says code Canceled).
		fmt.Fprintf(stderr, "Interrupted: %s stopped before it finished; run it again to resume.\n", path)
		return exitFailure
	default:
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return exitFailure
	}
}
