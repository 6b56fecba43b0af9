// Package scanner is the scanner function: on the sync manifest's
// object-finalized event (or a scheduler tick) it reads the synced tree and
// reconciles every backfill entry with the ledger (shared/handlers.Scanner).
package scanner

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
const EntryPoint = "Scanner"

func init() {
	functions.CloudEvent(EntryPoint, handle)
}

var (
	once    sync.Once
	handler *handlers.Scanner
	initErr error
)

// handle builds the handler from the environment on first use, so that
// importing the package does no I/O.
func handle(ctx context.Context, e event.Event) error {
	once.Do(func() {
		env, err := cloudenv.FromEnv(os.LookupEnv, cloudenv.ScannerNeeds)
		if err != nil {
			initErr = err
			return
		}
		logger := logging.New(os.Stdout, logging.ParseLevel(env.LogLevel)).With("component", "scanner")
		st, err := gcp.New(context.Background(), env, logger, gcp.Options{Launcher: true})
		if err != nil {
			initErr = err
			return
		}
		handler = handlers.NewScanner(st.Pipeline, st.Trees, logger)
	})
	if initErr != nil {
		return fmt.Errorf("scanner setup: %w", initErr)
	}
	return handler.Handle(ctx, e)
}
