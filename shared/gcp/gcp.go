// Package gcp assembles the pipeline from Google Cloud clients for the
// deployed components (functions and the worker job), from the resource
// names in cloudenv. Local mode assembles the same pipeline in shared/local.
package gcp

import (
	"context"
	"fmt"
	"log/slog"

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
	warehouse *bqwarehouse.Warehouse
}

// Options choose which optional clients to build.
type Options struct {
	// Launcher builds the Cloud Run Admin client (the scanner needs it).
	Launcher bool
	// Scripts lets the pipeline run query.py scripts (the worker image has python3).
	Scripts bool
}

// New connects to Google Cloud with the default credentials. lookup reads
// the process's environment (os.LookupEnv; the same lookup env was read
// through): Assemble reads the Cloud Run task variables through it.
func New(ctx context.Context, env cloudenv.Env, lookup func(string) (string, bool), logger *slog.Logger, opts Options) (*Stack, error) {
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
	c := Clients{Storage: st, PubSub: ps, Warehouse: wh}
	if opts.Launcher {
		if c.Jobs, err = run.NewJobsClient(ctx); err != nil {
			st.Close()
			ps.Close()
			return nil, fmt.Errorf("cloud run client: %w", err)
		}
	}
	return Assemble(env, lookup, logger, opts, c)
}

// Clients are the connected Google Cloud clients a Stack is assembled
// from: New dials Google Cloud; the deployment twin (terraform/) gives
// clients of in-process servers acting as each component's service
// account, so it runs the pipeline exactly as assembled here.
type Clients struct {
	Storage   *storage.Client
	PubSub    *pubsub.Client
	Warehouse *bqwarehouse.Warehouse
	// Jobs is the Cloud Run Admin client (needed with Options.Launcher).
	Jobs *run.JobsClient
}

// Assemble builds the pipeline over clients, which the Stack then owns
// (Close closes them); on error they are closed. lookup reads the
// environment as cloudenv.FromEnv did (the task budget's
// CLOUD_RUN_TASK_COUNT and CLOUD_RUN_TASK_INDEX, which Cloud Run sets).
func Assemble(env cloudenv.Env, lookup func(string) (string, bool), logger *slog.Logger, opts Options, c Clients) (*Stack, error) {
	s := &Stack{Env: env, PubSub: c.PubSub, Storage: c.Storage, publisher: queue.NewPublisher(c.PubSub), jobs: c.Jobs, warehouse: c.Warehouse}
	s.Trees = treestore.NewTrees(c.Storage, env.SQLBucket)
	p := &pipeline.Pipeline{
		Ledger:    ledger.New(c.Storage, env.LedgerBucket),
		Warehouse: c.Warehouse,
		Publisher: s.publisher,
		Topics: pipeline.Topics{
			Partitions: env.PartitionsTopic,
			Complete:   env.CompleteTopic,
			Events:     env.EventsTopic,
			DeadLetter: env.DeadLetterTopic,
		},
		Trees:   s.Trees,
		Checker: checks.Gate{Reader: c.Warehouse},
		Cache:   &pipeline.StateCache{},
		Logger:  logger,
	}
	if opts.Launcher {
		if c.Jobs == nil {
			s.Close()
			return nil, fmt.Errorf("assemble: a launcher needs a Cloud Run client")
		}
		p.Launcher = runjob.New(c.Jobs, env.WorkerJob, env.MaxTasks)
	}
	if opts.Scripts {
		p.Scripts = &script.Runner{}
	}
	// Worker tasks and the completion pace their jobs to BigQuery's
	// per-table rate, sharing it by time slots (shared/pacing).
	budget, err := pacing.TaskBudget(lookup)
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
	if s.warehouse != nil {
		s.warehouse.Close()
	}
}
