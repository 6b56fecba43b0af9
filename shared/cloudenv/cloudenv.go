// Package cloudenv holds the names of the cloud resources a deployed
// component uses (project, buckets, topics, subscriptions, the worker job),
// read from environment variables that terraform sets on every function and
// on the Cloud Run job. terraform/ owns the resources; Go code only receives
// their names here. The local stack fills the same struct with its own names.
package cloudenv

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Environment variable names. terraform/ sets every one of them on the
// components that read it (a test in terraform/ checks the wiring).
const (
	VarProject                = "BQBACKFILL_PROJECT"
	VarRegion                 = "BQBACKFILL_REGION"
	VarSQLBucket              = "BQBACKFILL_SQL_BUCKET"
	VarLedgerBucket           = "BQBACKFILL_LEDGER_BUCKET"
	VarPartitionsTopic        = "BQBACKFILL_PARTITIONS_TOPIC"
	VarPartitionsSubscription = "BQBACKFILL_PARTITIONS_SUBSCRIPTION"
	VarCompleteTopic          = "BQBACKFILL_COMPLETE_TOPIC"
	VarEventsTopic            = "BQBACKFILL_EVENTS_TOPIC"
	VarDeadLetterTopic        = "BQBACKFILL_DEAD_LETTER_TOPIC"
	VarWorkerJob              = "BQBACKFILL_WORKER_JOB"
	VarMaxTasks               = "BQBACKFILL_MAX_TASKS"
	VarSlackChannel           = "BQBACKFILL_SLACK_CHANNEL"
	VarSlackToken             = "SLACK_BOT_TOKEN"
	VarSlackWebhook           = "SLACK_WEBHOOK_URL"
	VarLogLevel               = "BQBACKFILL_LOG_LEVEL"

	// The worker task's own settings (jobs/worker, a main package, so they
	// live here where terraform/ can import them).
	VarWorkerConcurrency = "BQBACKFILL_WORKER_CONCURRENCY"
	VarWorkerIdleTimeout = "BQBACKFILL_WORKER_IDLE_TIMEOUT"
)

// Vars are the variables FromEnv reads (a test checks it reads exactly these).
var Vars = []string{
	VarProject, VarRegion, VarSQLBucket, VarLedgerBucket, VarPartitionsTopic, VarPartitionsSubscription,
	VarCompleteTopic, VarEventsTopic, VarDeadLetterTopic, VarWorkerJob, VarMaxTasks,
	VarSlackChannel, VarSlackToken, VarSlackWebhook, VarLogLevel,
}

// Env is the configuration of a deployed component.
type Env struct {
	Project                string // GCP project of the Pub/Sub topics, buckets and the job
	Region                 string
	SQLBucket              string // where `bqbackfill sync` uploads the sql/ tree and its manifest
	LedgerBucket           string // the ledger (shared/ledger)
	PartitionsTopic        string // one message per partition
	PartitionsSubscription string // pulled by the worker tasks
	CompleteTopic          string // completion requests
	EventsTopic            string // notifications
	DeadLetterTopic        string // partitions that failed every attempt
	WorkerJob              string // projects/P/locations/L/jobs/J
	MaxTasks               int    // cap on tasks per job execution
	SlackChannel           string
	SlackToken             string
	SlackWebhook           string
	LogLevel               string
}

// Defaults are the resource names terraform creates when not overridden.
var Defaults = Env{
	PartitionsTopic:        "backfill-partitions",
	PartitionsSubscription: "backfill-partitions-worker",
	CompleteTopic:          "backfill-complete",
	EventsTopic:            "backfill-events",
	DeadLetterTopic:        "backfill-dead-letter",
	MaxTasks:               32,
	SlackChannel:           "#dataops-alerts",
	LogLevel:               "INFO",
}

// Requirement lists which variables a component needs.
type Requirement []string

// Required variables per component; FromEnv checks them.
var (
	ScannerNeeds    = Requirement{VarProject, VarSQLBucket, VarLedgerBucket, VarPartitionsTopic, VarCompleteTopic, VarEventsTopic, VarWorkerJob}
	CompletionNeeds = Requirement{VarProject, VarLedgerBucket, VarEventsTopic}
	NotifierNeeds   = Requirement{VarProject}
	WorkerNeeds     = Requirement{VarProject, VarLedgerBucket, VarSQLBucket, VarPartitionsTopic, VarPartitionsSubscription, VarEventsTopic, VarDeadLetterTopic}

	// WorkerReads are the variables jobs/worker reads besides WorkerNeeds
	// and Cloud Run's own: optional, but terraform sets them all.
	WorkerReads = Requirement{VarLogLevel, VarWorkerConcurrency, VarWorkerIdleTimeout}
)

// FromEnv reads Env through lookup (os.LookupEnv in production), starting
// from Defaults, and fails naming every required variable that is missing or
// malformed.
func FromEnv(lookup func(string) (string, bool), need Requirement) (Env, error) {
	e := Defaults
	str := func(name string, dst *string) {
		if v, ok := lookup(name); ok && strings.TrimSpace(v) != "" {
			*dst = strings.TrimSpace(v)
		}
	}
	str(VarProject, &e.Project)
	str(VarRegion, &e.Region)
	str(VarSQLBucket, &e.SQLBucket)
	str(VarLedgerBucket, &e.LedgerBucket)
	str(VarPartitionsTopic, &e.PartitionsTopic)
	str(VarPartitionsSubscription, &e.PartitionsSubscription)
	str(VarCompleteTopic, &e.CompleteTopic)
	str(VarEventsTopic, &e.EventsTopic)
	str(VarDeadLetterTopic, &e.DeadLetterTopic)
	str(VarWorkerJob, &e.WorkerJob)
	str(VarSlackChannel, &e.SlackChannel)
	str(VarSlackToken, &e.SlackToken)
	str(VarSlackWebhook, &e.SlackWebhook)
	str(VarLogLevel, &e.LogLevel)
	var problems []string
	if v, ok := lookup(VarMaxTasks); ok && strings.TrimSpace(v) != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 10000 {
			problems = append(problems, fmt.Sprintf("%s=%q: want an integer in 1..10000", VarMaxTasks, v))
		} else {
			e.MaxTasks = n
		}
	}
	for _, name := range need {
		if e.value(name) == "" {
			problems = append(problems, name+" is not set")
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return e, fmt.Errorf("environment: %s", strings.Join(problems, "; "))
	}
	return e, nil
}

func (e Env) value(name string) string {
	switch name {
	case VarProject:
		return e.Project
	case VarRegion:
		return e.Region
	case VarSQLBucket:
		return e.SQLBucket
	case VarLedgerBucket:
		return e.LedgerBucket
	case VarPartitionsTopic:
		return e.PartitionsTopic
	case VarPartitionsSubscription:
		return e.PartitionsSubscription
	case VarCompleteTopic:
		return e.CompleteTopic
	case VarEventsTopic:
		return e.EventsTopic
	case VarDeadLetterTopic:
		return e.DeadLetterTopic
	case VarWorkerJob:
		return e.WorkerJob
	case VarSlackChannel:
		return e.SlackChannel
	case VarSlackToken:
		return e.SlackToken
	case VarSlackWebhook:
		return e.SlackWebhook
	case VarLogLevel:
		return e.LogLevel
	case VarMaxTasks:
		return strconv.Itoa(e.MaxTasks)
	}
	return ""
}
