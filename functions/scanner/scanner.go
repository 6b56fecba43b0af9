// Package scanner is the scanner function: on the sync manifest's
// object-finalized event (or a scheduler tick) it reads the synced tree and
// reconciles every backfill entry with the ledger (shared/handlers.Scanner).
package scanner

import (
	"context"
	"io"
	"os"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
	"github.com/bqbackfill/bqbackfill/shared/gcp"
	"github.com/bqbackfill/bqbackfill/shared/handlers"
)

// EntryPoint is the name the function is registered under (FUNCTION_TARGET).
const EntryPoint = "Scanner"

// Needs are the variables the scanner requires; terraform sets them
// (terraform/ checks).
var Needs = cloudenv.ScannerNeeds

func init() {
	functions.CloudEvent(EntryPoint, handle)
}

// handle is the deployed scanner: its handler is built on the first event
// that finds the environment complete.
var handle = handlers.Deferred("scanner", func() (*handlers.Scanner, error) { return setup(os.LookupEnv, os.Stdout) })

// setup connects to Google Cloud as the environment says, logging to stdout.
func setup(lookup func(string) (string, bool), stdout io.Writer) (*handlers.Scanner, error) {
	st, logger, err := gcp.FromEnv(context.Background(), lookup, Needs, stdout, "scanner", gcp.Options{Launcher: true})
	if err != nil {
		return nil, err
	}
	return handlers.NewScanner(st.Pipeline, st.Trees, logger), nil
}
