package main

import (
	"github.com/spf13/cobra"

	"github.com/bqbackfill/bqbackfill/shared/pipeline"
)

func init() {
	register(func(io IO) *cobra.Command {
		return newPhaseCmd(io, "complete", "Swap one table's processed backfill into production, in process (local mode)", pipeline.StatusComplete, localRun)
	})
}
