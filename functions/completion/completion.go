// Package completion is the completion function: for each completion
// request on the completion topic it backs up production and swaps the
// staged partitions in (shared/handlers.Completion), resuming where a
// previous attempt stopped.
package completion

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
const EntryPoint = "Completion"

// Needs are the variables the completion requires; terraform sets them
// (terraform/ checks).
var Needs = cloudenv.CompletionNeeds

func init() {
	functions.CloudEvent(EntryPoint, handle)
}

// handle is the deployed completion: its handler is built on the first event
// that finds the environment complete.
var handle = handlers.Deferred("completion", func() (*handlers.Completion, error) { return setup(os.LookupEnv, os.Stdout) })

// setup connects to Google Cloud as the environment says, logging to stdout.
func setup(lookup func(string) (string, bool), stdout io.Writer) (*handlers.Completion, error) {
	st, logger, err := gcp.FromEnv(context.Background(), lookup, Needs, stdout, "completion", gcp.Options{})
	if err != nil {
		return nil, err
	}
	return handlers.NewCompletion(st.Pipeline, logger), nil
}
