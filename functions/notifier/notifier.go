// Package notifier is the notifier function: it receives the backfill events
// published on the events topic (through Eventarc, or a Pub/Sub push
// subscription converted by functions-framework-go) and delivers them with
// shared/handlers.Notifier and a shared/notify Notifier: Slack with a bot
// token, a Slack incoming webhook, or the log when neither is configured.
//
// Deploying it is optional: without it the events stay on the topic and in
// the logs.
package notifier

import (
	"io"
	"log/slog"
	"os"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
	"github.com/bqbackfill/bqbackfill/shared/handlers"
	"github.com/bqbackfill/bqbackfill/shared/logging"
	"github.com/bqbackfill/bqbackfill/shared/notify"
)

// EntryPoint is the name the function is registered under (FUNCTION_TARGET).
const EntryPoint = "Notifier"

// Needs are the variables the notifier requires; terraform sets them
// (terraform/ checks).
var Needs = cloudenv.NotifierNeeds

func init() {
	functions.CloudEvent(EntryPoint, handle)
}

// handle is the deployed function, configured from the environment on the
// first event that finds it complete.
var handle = handlers.Deferred("notifier", func() (*handlers.Notifier, error) { return setup(os.LookupEnv, os.Stdout) })

// setup builds the deployed handler: Cloud Logging JSON on stdout, and the
// Notifier notify.FromEnv picks (Slack, webhook, or log entries).
func setup(lookup func(string) (string, bool), stdout io.Writer) (*handlers.Notifier, error) {
	env, err := cloudenv.FromEnv(lookup, Needs)
	if err != nil {
		return nil, err
	}
	logger := logging.New(stdout, logging.ParseLevel(env.LogLevel)).With(logging.KeyComponent, "notifier")
	// The Slack notifier reports watcher lookups that fell back to the local
	// part through the default logger.
	slog.SetDefault(logger)
	n, err := notify.FromEnv(env, handlers.LogEntries(logger))
	if err != nil {
		return nil, err
	}
	return handlers.NewNotifier(n, logger), nil
}
