package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// commandMaker builds one command on the given streams. Each cmd_<name>.go
// registers its maker from init, so adding a command is adding one file.
type commandMaker func(io IO) *cobra.Command

var makers []commandMaker

func register(m commandMaker) { makers = append(makers, m) }

const rootLong = `bqbackfill manages BigQuery backfills declared in backfill.yaml files of a
bigquery-etl style sql/ tree: it validates them, plans them, and runs them
locally (DuckDB, in process) or against the deployed pipeline.

Flags are written with two dashes; every multi-word flag accepts both
spellings, --start-date and --start_date.

Exit codes:
  0  ok
  1  failure (including validation problems and interrupted runs)
  2  usage error (unknown command or flag, bad argument)`

// newRootCmd builds the command tree. Commands are built afresh for every
// Main call: cobra commands hold their parsed flags.
func newRootCmd(io IO) *cobra.Command {
	root := &cobra.Command{
		Use:           "bqbackfill <command> [flags]",
		Short:         "Manage BigQuery backfills declared in backfill.yaml files",
		Long:          rootLong,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			hint := ""
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				hint = "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return usagef("unknown command %q%s", args[0], hint)
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			// No command: show what there is, and fail as a usage error.
			if err := cmd.Help(); err != nil {
				return err
			}
			return errHelpShown
		},
	}
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.Err)
	// Before AddCommand: cobra hands the function on to the commands added.
	root.SetGlobalNormalizationFunc(normalizeFlagName)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usagef("%v", err) })
	root.CompletionOptions.HiddenDefaultCmd = false
	seen := map[string]bool{}
	for _, m := range makers {
		c := m(io)
		if seen[c.Name()] {
			panic("duplicate command " + c.Name())
		}
		seen[c.Name()] = true
		root.AddCommand(c)
	}
	return root
}

// flagAliases are older names kept working, mapped to the current one.
var flagAliases = map[string]string{
	"override-retention-limit": "override-retention-range-limit",
}

// normalizeFlagName makes --start_date and --start-date the same flag
// (bqetl's spelling and the usual one), so each flag is registered once.
func normalizeFlagName(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	name = strings.ReplaceAll(name, "_", "-")
	if to, ok := flagAliases[name]; ok {
		name = to
	}
	return pflag.NormalizedName(name)
}

// exactArgs fails with a usage error unless there are n positional
// arguments; what says what they are ("one TABLE (project.dataset.table)").
func exactArgs(args []string, n int, cmd, what string) error {
	if len(args) != n {
		return usagef("%s takes exactly %s, got %d argument(s)", cmd, what, len(args))
	}
	return nil
}

// maxArgs is exactArgs for "at most n".
func maxArgs(args []string, n int, cmd, what string) error {
	if len(args) > n {
		return usagef("%s takes at most %s, got %d argument(s)", cmd, what, len(args))
	}
	return nil
}
