package ledger

// State is a backfill's state.
type State string

// The states of a backfill:
//
//	pending -> staging -> processing -> processed -> completing -> completed -> rolled_back
//	                                 \-> failed ---/ (retry: failed -> processing)
//
// plus cancelled (from any state before completing) and rejected (an entry
// that failed validation; fixing the entry moves it back to pending). A
// swap that stopped part-way (FailureSwapStopped) is failed and may be
// rolled back from there. See CanTransition for the whole table.
const (
	StatePending    State = "pending"     // recorded; staging not prepared yet
	StateStaging    State = "staging"     // preparing staging (claimed by one scanner)
	StateProcessing State = "processing"  // partitions queued or running
	StateProcessed  State = "processed"   // every partition in staging; waiting for Complete
	StateFailed     State = "failed"      // some partition failed, or the start or swap was refused
	StateCompleting State = "completing"  // backing up and swapping
	StateCompleted  State = "completed"   // production updated, staging deleted
	StateCancelled  State = "cancelled"   // the entry was set to Cancelled
	StateRejected   State = "rejected"    // the entry failed validation; nothing ran
	StateRolledBack State = "rolled_back" // the swapped partitions were restored from the backup
)

// States lists every backfill state, in lifecycle order.
var States = []State{
	StatePending, StateStaging, StateProcessing, StateProcessed, StateFailed,
	StateCompleting, StateCompleted, StateCancelled, StateRejected, StateRolledBack,
}

// transitions maps each state to the states it may move to (besides
// itself). Completing cannot be cancelled: a half-swapped table is finished,
// reported failed, or rolled back from its backup by an operator
// (bqbackfill rollback), never abandoned.
var transitions = map[State][]State{
	StatePending:    {StateStaging, StateFailed, StateCancelled, StateRejected},
	StateStaging:    {StateProcessing, StateFailed, StateCancelled},
	StateProcessing: {StateProcessed, StateFailed, StateCancelled},
	StateProcessed:  {StateCompleting, StateCancelled},
	StateFailed:     {StateProcessing, StatePending, StateProcessed, StateCancelled, StateRolledBack},
	StateCompleting: {StateCompleted, StateFailed, StateRolledBack},
	StateCompleted:  {StateRolledBack},
	StateRejected:   {StatePending, StateStaging},
}

// CanTransition reports whether a backfill may move from one state to
// another. Staying in a state is always allowed (an update of other fields).
func CanTransition(from, to State) bool {
	if from == to {
		return true
	}
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Terminal reports whether no automatic step follows s: completed,
// cancelled, rejected and rolled_back. (An operator's rollback, or a fixed
// entry, may still move a terminal backfill on.)
func (s State) Terminal() bool {
	switch s {
	case StateCompleted, StateCancelled, StateRejected, StateRolledBack:
		return true
	}
	return false
}

// Valid reports whether s is one of States.
func (s State) Valid() bool {
	for _, v := range States {
		if s == v {
			return true
		}
	}
	return false
}

// FailureKind is why a backfill is failed; retry branches on it.
type FailureKind string

// Failure kinds.
const (
	FailureNone FailureKind = ""
	// FailureStart: the start cannot succeed without a human (the table to
	// backfill does not exist); retry starts again from the beginning.
	FailureStart FailureKind = "start"
	// FailurePartitions: partitions failed every attempt; retry re-runs the
	// failed ones.
	FailurePartitions FailureKind = "partitions"
	// FailureCompletionRefused: the completion was refused before anything
	// was touched (schema, missing tables); retry asks for it again once
	// the cause is fixed.
	FailureCompletionRefused FailureKind = "completion_refused"
	// FailureStagingLost: the completion was refused because partitions the
	// ledger recorded with rows are empty or missing in staging
	// (Backfill.FailedPartitions); retry re-runs them.
	FailureStagingLost FailureKind = "staging_lost"
	// FailureSwapStopped: the swap stopped on an error that retrying
	// cannot fix (permission denied) after the completion began; the
	// failing step is recorded with its error, the backup (if taken) is
	// intact. Retry (or complete) resumes the swap where it stopped once
	// the cause is fixed; rollback restores production from the backup.
	FailureSwapStopped FailureKind = "swap_stopped"
)
