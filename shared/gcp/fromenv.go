package gcp

import (
	"context"
	"io"
	"log/slog"

	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
	"github.com/bqbackfill/bqbackfill/shared/logging"
)

// FromEnv is New for a deployed function: it reads the variables need lists
// through lookup (os.LookupEnv), logs to stdout as Cloud Logging JSON
// labelled with component, and connects. The logger is returned for the
// function's handler.
func FromEnv(ctx context.Context, lookup func(string) (string, bool), need cloudenv.Requirement, stdout io.Writer, component string, opts Options) (*Stack, *slog.Logger, error) {
	env, err := cloudenv.FromEnv(lookup, need)
	if err != nil {
		return nil, nil, err
	}
	logger := logging.New(stdout, logging.ParseLevel(env.LogLevel)).With(logging.KeyComponent, component)
	st, err := New(ctx, env, lookup, logger, opts)
	if err != nil {
		return nil, nil, err
	}
	return st, logger, nil
}
