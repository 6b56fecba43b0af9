// Package completion is the completion function: for each completion
// request on the completion topic it backs up production and swaps the
// staged partitions in (shared/handlers.Completion), resuming where a
// previous attempt stopped.
package completion

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	"github.com/cloudevents/sdk-go/v2/event"

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

var (
	once    sync.Once
	handler *handlers.Completion
	initErr error
)

func handle(ctx context.Context, e event.Event) error {
	once.Do(func() {
		env, err := cloudenv.FromEnv(os.LookupEnv, cloudenv.CompletionNeeds)
		if err != nil {
			initErr = err
			return
		}
		logger := logging.New(os.Stdout, logging.ParseLevel(env.LogLevel)).With("component", "completion")
		st, err := gcp.New(context.Background(), env, logger, gcp.Options{})
		if err != nil {
			initErr = err
			return
		}
		handler = handlers.NewCompletion(st.Pipeline, logger)
	})
	if initErr != nil {
		return fmt.Errorf("completion setup: %w", initErr)
	}
	return handler.Handle(ctx, e)
}
