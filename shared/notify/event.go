// Package notify turns backfill events into messages for the people watching
// a backfill: Slack (bot token or incoming webhook) in the cloud, a readable
// text block on a writer in local mode.
//
// The pipeline publishes an Event (JSON, Encode) on the events topic; the
// notifier function decodes it (Decode) and hands it to a Notifier. Render
// holds the wording, shared by every Notifier. The wire format is a contract:
// fields are added, never renamed, and a consumer ignores unknown fields and
// renders unknown kinds generically.
package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Kind says what happened to a backfill.
type Kind string

// The kinds of Event, in the order a backfill meets them.
const (
	// KindStarted: the staging table is ready and the partitions are queued.
	KindStarted Kind = "started"
	// KindDone: every partition is in staging; Comparison holds the row counts.
	KindDone Kind = "done"
	// KindFailed: partitions failed every attempt (Failed), or a step failed
	// (Text says which).
	KindFailed Kind = "failed"
	// KindCompleting: the entry was set to Complete; the swap has started.
	KindCompleting Kind = "completing"
	// KindCompleted: production holds the backfilled partitions.
	KindCompleted Kind = "completed"
	// KindRejected: the entry failed validation (Errors) and will not run.
	KindRejected Kind = "rejected"
	// KindCancelled: the backfill was cancelled; no further work is done.
	KindCancelled Kind = "cancelled"
	// KindEdited: the entry changed after the backfill started; the change
	// is not applied.
	KindEdited Kind = "edited"
	// KindRolledBack: production was restored from the backup.
	KindRolledBack Kind = "rolled_back"
)

// Kinds lists every kind this version renders specifically.
var Kinds = []Kind{KindStarted, KindDone, KindFailed, KindCompleting, KindCompleted,
	KindRejected, KindCancelled, KindEdited, KindRolledBack}

// Event is one notification about one backfill: the JSON published on the
// events topic.
type Event struct {
	BackfillID string `json:"backfill_id,omitempty"`
	Kind       Kind   `json:"kind"`
	// Table is the production table, "project.dataset.table".
	Table string `json:"table"`
	// EntryDate is the backfill entry's key in backfill.yaml.
	EntryDate civil.Date `json:"entry_date,omitzero"`
	// Watchers are the entry's watchers: emails or GitHub identities.
	Watchers []string `json:"watchers,omitempty"`
	// StagingTable and BackupTable are "project.dataset.table" names.
	StagingTable string `json:"staging_table,omitempty"`
	BackupTable  string `json:"backup_table,omitempty"`
	// Partitions is the number of partitions the backfill covers (started,
	// done, completing, completed, rolled_back).
	Partitions int `json:"partitions,omitempty"`
	// Comparison holds the per-partition row counts of staging against
	// production (done).
	Comparison []PartitionRows `json:"comparison,omitempty"`
	// Changes are the largest staging-vs-production profile changes,
	// largest first, one line each (done; shared/profile).
	Changes []string `json:"changes,omitempty"`
	// Warnings holds the failed #warn data checks (done).
	Warnings []PartitionWarning `json:"warnings,omitempty"`
	// Failed holds the partitions that failed every attempt (failed).
	Failed []PartitionFailure `json:"failed,omitempty"`
	// Errors holds the validation rules the entry broke (rejected).
	Errors []RuleViolation `json:"errors,omitempty"`
	// Text is free extra detail, shown as its own paragraph.
	Text string `json:"text,omitempty"`
	// Time is when the event happened.
	Time time.Time `json:"time,omitzero"`
}

// PartitionRows compares one partition's row count in staging and production.
type PartitionRows struct {
	Partition      string `json:"partition"`
	StagingRows    int64  `json:"staging_rows"`
	ProductionRows int64  `json:"production_rows"`
}

// PartitionFailure is a partition that failed every attempt, with its last
// error.
type PartitionFailure struct {
	Partition string `json:"partition"`
	Error     string `json:"error"`
	// Kind says what helps (FailureAdvice); "" from older senders reads
	// as FailureUnknown.
	Kind FailureKind `json:"kind,omitempty"`
}

// RuleViolation is one validation rule a rejected entry broke.
type RuleViolation struct {
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// Validate checks what every consumer relies on: a kind and a table named
// project.dataset.table. Unknown kinds are valid (they render generically).
func (e Event) Validate() error {
	var errs []error
	if e.Kind == "" {
		errs = append(errs, errors.New("kind is empty"))
	}
	if _, err := warehouse.ParseTableRef(e.Table); err != nil {
		errs = append(errs, fmt.Errorf("table: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("notify: invalid event (backfill %q): %w", e.BackfillID, err)
	}
	return nil
}

// Attributes returns the Pub/Sub attributes to publish e with, so that
// subscriptions can filter on them: kind, table and backfill_id.
func (e Event) Attributes() map[string]string {
	a := map[string]string{"kind": string(e.Kind), "table": e.Table}
	if e.BackfillID != "" {
		a["backfill_id"] = e.BackfillID
	}
	return a
}

// Encode validates e and returns its JSON.
func Encode(e Event) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("notify: encode %s event for %s: %w", e.Kind, e.Table, err)
	}
	return b, nil
}

// Decode parses and validates an Event. Unknown fields are ignored.
func Decode(b []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		return Event{}, fmt.Errorf("notify: decode event: %w", err)
	}
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}
