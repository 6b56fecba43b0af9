package main

import (
	"context"

	"github.com/spf13/cobra"
)

func init() {
	register(func(io IO) *cobra.Command { return newRunCmd(io, localRun) })
}

func newRunCmd(io IO, runF func(context.Context, *localRunOptions) error) *cobra.Command {
	o := &localRunOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the whole pipeline locally on a sql/ tree until nothing is left to do",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("run takes no arguments, got %q", args)
			}
			if err := o.check(); err != nil {
				return err
			}
			return runF(cmd.Context(), o)
		},
	}
	o.add(cmd.Flags())
	return cmd
}
