// Command bqbackfill manages BigQuery backfills declared in backfill.yaml
// files of a bigquery-etl style sql/ tree. Run "bqbackfill help" for the
// commands; exit codes are 0 (ok), 1 (failure, including validation
// problems), 2 (usage error).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
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

// command is one subcommand. run parses its own flags from args.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, io IO) error
}

var commands = map[string]command{}

// register adds a command; each command's file calls it from init.
func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("duplicate command " + c.name)
	}
	commands[c.name] = c
}

// usageError makes Main exit with code 2 and print the message.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// silentError exits 1 without printing anything more: the command already
// reported what failed (for example validate's list of problems).
var errSilent = errors.New("silent failure")

// Main runs the command line args and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "Error: unknown command %q\n\n", args[0])
		printHelp(stderr)
		return exitUsage
	}
	err := c.run(ctx, args[1:], IO{In: stdin, Out: stdout, Err: stderr})
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errSilent):
		return exitFailure
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "Error: %s\nRun 'bqbackfill %s -h' for usage.\n", ue.msg, c.name)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return exitFailure
	}
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "bqbackfill manages BigQuery backfills declared in backfill.yaml files.")
	fmt.Fprintln(w, "\nUsage: bqbackfill <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nExit codes: 0 ok, 1 failure (including validation problems), 2 usage error.")
}
