// Command worker is the Cloud Run job task: it pulls partition messages from
// the partitions subscription, computes each partition into staging, and
// exits when the subscription stays empty (shared/pipeline.RunTask).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
	"github.com/bqbackfill/bqbackfill/shared/gcp"
	"github.com/bqbackfill/bqbackfill/shared/logging"
	"github.com/bqbackfill/bqbackfill/shared/pacing"
	"github.com/bqbackfill/bqbackfill/shared/queue"
)

// config is what one task needs from its environment.
type config struct {
	env         cloudenv.Env
	taskIndex   int
	taskCount   int
	attempt     int
	execution   string
	concurrency int
	idle        time.Duration
}

// configFromEnv reads the task's configuration, naming every bad variable.
func configFromEnv(lookup func(string) (string, bool)) (config, error) {
	env, err := cloudenv.FromEnv(lookup, cloudenv.WorkerNeeds)
	if err != nil {
		return config{}, err
	}
	c := config{env: env, taskCount: 1, concurrency: 1, idle: 15 * time.Second}
	var problems []string
	intVar := func(name string, dst *int, min int) {
		v, ok := lookup(name)
		if !ok || v == "" {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < min {
			problems = append(problems, fmt.Sprintf("%s=%q: want an integer >= %d", name, v, min))
			return
		}
		*dst = n
	}
	// The pacer divides the quotas by the same budget, so the task's
	// position is read (and refused when out of range) by the one rule.
	if b, err := pacing.TaskBudget(lookup); err != nil {
		problems = append(problems, err.Error())
	} else {
		c.taskIndex, c.taskCount = b.Task, b.Tasks
	}
	intVar("CLOUD_RUN_TASK_ATTEMPT", &c.attempt, 0)
	intVar(cloudenv.VarWorkerConcurrency, &c.concurrency, 1)
	c.execution, _ = lookup("CLOUD_RUN_EXECUTION")
	if v, ok := lookup(cloudenv.VarWorkerIdleTimeout); ok && v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			problems = append(problems, fmt.Sprintf("%s=%q: want a positive duration like 15s", cloudenv.VarWorkerIdleTimeout, v))
		} else {
			c.idle = d
		}
	}
	if len(problems) > 0 {
		return config{}, fmt.Errorf("environment: %v", problems)
	}
	return c, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	logger := logging.New(os.Stdout, logging.ParseLevel(os.Getenv(cloudenv.VarLogLevel))).With("component", "worker")
	if err := run(ctx, os.LookupEnv, logger); err != nil {
		logger.Error("worker task failed", "error", err.Error())
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, lookup func(string) (string, bool), logger *slog.Logger) error {
	cfg, err := configFromEnv(lookup)
	if err != nil {
		return err
	}
	logger = logger.With("execution", cfg.execution, "task_index", cfg.taskIndex, "task_attempt", cfg.attempt)
	st, err := gcp.New(ctx, cfg.env, lookup, logger, gcp.Options{Scripts: true})
	if err != nil {
		return err
	}
	defer st.Close()
	stats, err := st.Pipeline.RunTask(ctx, queue.Subscription{Client: st.PubSub, Name: cfg.env.PartitionsSubscription, Options: queue.ReceiveOptions{Concurrency: cfg.concurrency, IdleTimeout: cfg.idle}})
	logger.Info("worker task done", "handled", stats.Handled, "redelivered", stats.Redeliver, "finished", stats.Finished)
	return err
}
