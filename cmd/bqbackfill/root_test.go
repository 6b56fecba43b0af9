package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// TestFlagSpellings checks that every multi-word flag of every command is
// registered once, under its dashed name, and that the underscore spelling
// finds the same flag.
func TestFlagSpellings(t *testing.T) {
	root := newRootCmd(IO{})
	for _, cmd := range root.Commands() {
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if strings.Contains(f.Name, "_") {
				t.Errorf("%s --%s: registered with an underscore", cmd.Name(), f.Name)
			}
			if !strings.Contains(f.Name, "-") {
				return
			}
			if got := cmd.Flags().Lookup(strings.ReplaceAll(f.Name, "-", "_")); got != f {
				t.Errorf("%s --%s: the underscore spelling does not find the flag", cmd.Name(), f.Name)
			}
		})
	}
	// End to end, both spellings parse to the same option.
	for _, flag := range []string{"--start-date", "--start_date"} {
		var got *createOptions
		cmd := newCreateCmd(IO{}, func(_ context.Context, o *createOptions) error { got = o; return nil })
		cmd.SetGlobalNormalizationFunc(normalizeFlagName)
		cmd.SetArgs([]string{"p.d.t", flag, "2026-01-02", "--reason", "r", "--override_retention_limit"})
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%s: %v", flag, err)
		}
		if got.Entry.StartDate.String() != "2026-01-02" || !got.Entry.OverrideRetentionLimit {
			t.Errorf("%s: entry %+v", flag, got.Entry)
		}
	}
}

// TestTableArgument checks that every command taking one TABLE reads the
// same forms (retry and rollback once rejected the path form).
func TestTableArgument(t *testing.T) {
	want := warehouse.TableRef{Project: "p", Dataset: "d", Table: "t"}
	var got warehouse.TableRef
	makers := map[string]func() *cobra.Command{
		"retry": func() *cobra.Command {
			return newRetryCmd(IO{}, func(_ context.Context, o *ledgerOpOptions) error { got = o.Table; return nil })
		},
		"rollback": func() *cobra.Command {
			return newRollbackCmd(IO{}, func(_ context.Context, o *ledgerOpOptions) error { got = o.Table; return nil })
		},
		"plan": func() *cobra.Command {
			return newPlanCmd(IO{}, func(_ context.Context, o *planOptions) error { got = o.Table; return nil })
		},
		"status": func() *cobra.Command {
			return newStatusCmd(IO{}, func(_ context.Context, o *statusOptions) error { got = *o.Table; return nil })
		},
	}
	for name, mk := range makers {
		for _, arg := range []string{"p.d.t", "sql/p/d/t", "sql/p/d/t/backfill.yaml", "p/d/t/"} {
			got = warehouse.TableRef{}
			cmd := mk()
			cmd.SetArgs([]string{arg})
			if err := cmd.Execute(); err != nil || got != want {
				t.Errorf("%s %s: %v, table %v", name, arg, err, got)
			}
		}
	}
}

func TestRootUsage(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		out, err string
	}{
		{nil, 2, "Available Commands:", ""},
		{[]string{"help"}, 0, "Exit codes:", ""},
		{[]string{"--help"}, 0, "validate", ""},
		{[]string{"validat"}, 2, "", `unknown command "validat"; did you mean validate?`},
		{[]string{"help", "create"}, 0, "--start-date", ""},
		{[]string{"completion", "bash"}, 0, "bash completion", ""},
		{[]string{"validate", "--no-such-flag"}, 2, "", "Run 'bqbackfill validate --help' for usage."},
	}
	for _, tt := range tests {
		code, out, errOut := runMain(t, tt.args...)
		if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.err) {
			t.Errorf("%q: exit %d (want %d)\nstdout %.300q\nstderr %q", tt.args, code, tt.code, out, errOut)
		}
	}
}

// TestInterrupted checks that a command stopped by a signal (a cancelled
// context) stops, exits 1 and says so instead of printing the wrapped
// "context canceled" of its last step (review: hostile input, items 7
// and 12).
func TestInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	created := t.TempDir()
	for _, args := range [][]string{
		{"validate", "--sql-dir", testSQL},
		{"info", "--sql-dir", testSQL},
		{"scheduled", "--sql-dir", testSQL, "--today", "2026-06-15"},
		{"run", "--sql-dir", testSQL, "--state-dir", t.TempDir()},
		{"status", "--state-dir", t.TempDir()},
		{"create", "p.d.t", "--sql-dir", created, "--start-date", "2026-06-01", "--reason", "r", "-w", "a@b.co"},
	} {
		var out, errOut strings.Builder
		code := Main(ctx, args, strings.NewReader(""), &out, &errOut)
		if code != 1 || !strings.Contains(errOut.String(), "Interrupted") || strings.Contains(errOut.String(), "context canceled") {
			t.Errorf("%s: exit %d, stderr %q", args[0], code, errOut.String())
		}
	}
	if _, err := os.Stat(filepath.Join(created, "p", "d", "t", "backfill.yaml")); err == nil {
		t.Error("an interrupted create wrote the file")
	}
}
