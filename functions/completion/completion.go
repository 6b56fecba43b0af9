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
	"github.com/bqbackfill/bqbackfill/shared/logging"
)

// EntryPoint is the name the function is registered under (FUNCTION_TARGET).
const EntryPoint = "Completion"

func init() {
	functions.CloudEvent(EntryPoint, handle)
}

// handle is the deployed function, configured from the environment on the
// first event that finds it complete.
var handle = handlers.Deferred("completion", func() (*handlers.Completion, error) { return setup(os.LookupEnv, os.Stdout) })

// setup connects to Google Cloud as the environment says.
func setup(lookup func(string) (string, bool), stdout io.Writer) (*handlers.Completion, error) {
	env, err := cloudenv.FromEnv(lookup, cloudenv.CompletionNeeds)
	if err != nil {
		return nil, err
	}
	logger := logging.New(stdout, logging.ParseLevel(env.LogLevel)).With(logging.KeyComponent, "completion")
	st, err := gcp.New(context.Background(), env, logger, gcp.Options{})
	if err != nil {
		return nil, err
	}
	return handlers.NewCompletion(st.Pipeline, logger), nil
}
