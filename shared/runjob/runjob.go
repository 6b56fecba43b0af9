// Package runjob starts executions of the worker Cloud Run job, sized to the
// work: one task per partition up to a cap. Workers of every execution pull
// the same partition subscription, so an execution is only capacity; which
// backfill a task works on is decided by the messages it pulls.
package runjob

import (
	"context"
	"fmt"

	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
)

// Launcher starts executions of one Cloud Run job.
type Launcher struct {
	client   *run.JobsClient
	job      string // projects/P/locations/L/jobs/J
	maxTasks int
}

// New returns a Launcher for job (its full resource name). maxTasks caps the
// task count of one execution, and so the tasks that run at once: the job's
// parallelism is 0 (terraform), "as many as the task count", because Cloud
// Run requires parallelism <= task count and a RunJob override can set only
// the task count, not the parallelism.
func New(client *run.JobsClient, job string, maxTasks int) *Launcher {
	if maxTasks < 1 {
		maxTasks = 1
	}
	return &Launcher{client: client, job: job, maxTasks: maxTasks}
}

// Tasks is the task count for an execution with `partitions` pending
// partitions: one per partition, at least 1, at most max.
func Tasks(partitions, max int) int {
	switch {
	case partitions < 1:
		return 1
	case partitions > max:
		return max
	}
	return partitions
}

// Launch starts an execution with enough tasks for `partitions` partitions
// and returns the execution's name. It does not wait for the execution.
// The backfill id is passed as an environment override, for logs only.
func (l *Launcher) Launch(ctx context.Context, backfillID string, partitions int) (string, error) {
	op, err := l.client.RunJob(ctx, &runpb.RunJobRequest{
		Name: l.job,
		Overrides: &runpb.RunJobRequest_Overrides{
			TaskCount: int32(Tasks(partitions, l.maxTasks)),
			ContainerOverrides: []*runpb.RunJobRequest_Overrides_ContainerOverride{{
				Env: []*runpb.EnvVar{{Name: "BQBACKFILL_LAUNCHED_FOR", Values: &runpb.EnvVar_Value{Value: backfillID}}},
			}},
		},
	})
	if err != nil {
		return "", fmt.Errorf("run job %s for %s: %w", l.job, backfillID, err)
	}
	exec, err := op.Metadata()
	if err != nil {
		return "", fmt.Errorf("run job %s for %s: read execution: %w", l.job, backfillID, err)
	}
	if exec == nil {
		return op.Name(), nil
	}
	return exec.GetName(), nil
}

// Running reports whether the job's latest execution has not finished:
// then its tasks (or ones about to start) will pull the partition
// messages. The scanner launches an execution when a backfill has a
// backlog and none is running, so a partition whose message Pub/Sub
// withheld for its retry backoff never waits on tasks that have exited.
// Only the latest execution is looked at (jobs.get: run.jobs.get, in
// roles/run.viewer; the executor roles that allow RunJob do not hold it):
// an older one still running while a newer one finished is rare, and costs
// at most one extra execution.
func (l *Launcher) Running(ctx context.Context) (bool, error) {
	job, err := l.client.GetJob(ctx, &runpb.GetJobRequest{Name: l.job})
	if err != nil {
		return false, fmt.Errorf("get job %s: %w", l.job, err)
	}
	last := job.GetLatestCreatedExecution()
	if last == nil || last.GetName() == "" {
		return false, nil
	}
	return last.GetCompletionTime() == nil && last.GetDeleteTime() == nil, nil
}
