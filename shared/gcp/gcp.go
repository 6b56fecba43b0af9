// Package gcp assembles the pipeline from Google Cloud clients for the
// deployed components (functions and the worker job), from the resource
// names in cloudenv. Local mode assembles the same pipeline in shared/local.
package gcp

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"cloud.google.com/go/pubsub/v2"
	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/storage"

	"github.com/bqbackfill/bqbackfill/shared/checks"
	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pacing"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/queue"
	"github.com/bqbackfill/bqbackfill/shared/runjob"
	"github.com/bqbackfill/bqbackfill/shared/script"
	"github.com/bqbackfill/bqbackfill/shared/treestore"
	bqwarehouse "github.com/bqbackfill/bqbackfill/shared/warehouse/bigquery"
)

// Stack is a pipeline wired to Google Cloud, with the clients to close.
type Stack struct {
	Env      cloudenv.Env
	Pipeline *pipeline.Pipeline
	Trees    *treestore.Trees
	PubSub   *pubsub.Client
	Storage  *storage.Client

	publisher *queue.Publisher
	jobs      *run.JobsClient
}

// Options choose which optional clients to build.
type Options struct {
	// Launcher builds the Cloud Run Admin client (the scanner needs it).
	Launcher bool
	// Scripts lets the pipeline run query.py scripts (the worker image has python3).
	Scripts bool
}

// New connects to Google Cloud with the default credentials.
func New(ctx context.Context, env cloudenv.Env, logger *slog.Logger, opts Options) (*Stack, error) {
	st, err := storage.NewClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("storage client: %w", err)
	}
	ps, err := pubsub.NewClient(ctx, env.Project)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("pubsub client: %w", err)
	}
	wh, err := bqwarehouse.New(ctx, env.Project)
	if err != nil {
		st.Close()
		ps.Close()
		return nil, fmt.Errorf("bigquery client: %w", err)
	}
	s := &Stack{Env: env, PubSub: ps, Storage: st, publisher: queue.NewPublisher(ps)}
	s.Trees = treestore.NewTrees(st, env.SQLBucket)
	p := &pipeline.Pipeline{
		Ledger:    ledger.New(st, env.LedgerBucket),
		Warehouse: wh,
		Publisher: s.publisher,
		Topics: pipeline.Topics{
			Partitions: env.PartitionsTopic,
			Complete:   env.CompleteTopic,
			Events:     env.EventsTopic,
			DeadLetter: env.DeadLetterTopic,
		},
		Trees:   s.Trees,
		Checker: checks.Gate{Reader: wh},
		Cache:   &pipeline.StateCache{},
		Logger:  logger,
	}
	if opts.Launcher {
		jc, err := run.NewJobsClient(ctx)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("cloud run client: %w", err)
		}
		s.jobs = jc
		p.Launcher = runjob.New(jc, env.WorkerJob, env.MaxTasks)
	}
	if opts.Scripts {
		p.Scripts = &script.Runner{}
	}
	// Worker tasks and the completion pace their jobs to BigQuery's
	// per-table rate, sharing it by time slots (shared/pacing).
	budget, err := pacing.TaskBudget(os.LookupEnv)
	if err != nil {
		s.Close()
		return nil, err
	}
	p.Pacer = &pacing.Tables{Budget: budget}
	s.Pipeline = p
	return s, nil
}

// Close flushes publishers and closes the clients.
func (s *Stack) Close() {
	s.publisher.Stop()
	s.PubSub.Close()
	s.Storage.Close()
	if s.jobs != nil {
		s.jobs.Close()
	}
}
