package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/storage"
)

// Backfill is the record of one backfill.yaml entry (backfill.json).
type Backfill struct {
	// ID is "<project>.<dataset>.<table>/<entry_date>", the record's folder.
	ID string `json:"id"`
	// Table is "<project>.<dataset>.<table>", the table named in the tree.
	Table string `json:"table"`
	// EntryDate is the entry's key, YYYY-MM-DD.
	EntryDate string `json:"entry_date"`
	// State is where the backfill is in its lifecycle.
	State State `json:"state"`
	// EntryHash identifies the entry's content (status excluded) when it
	// started, so an entry edited afterwards is noticed and reported.
	EntryHash string `json:"entry_hash"`
	// Spec is the pipeline's plan for the backfill (shared/pipeline.Spec:
	// the entry's snapshot as resolved at the start — partitions with their
	// dates and parameters, sequential or not, staging, backup and billing
	// project, query). Create stores it in its own immutable object (see
	// ReplaceSpec) because it grows with the partitions while this record
	// is read for every partition; Get leaves it empty (see Store.Spec).
	Spec json.RawMessage `json:"-"`
	// SpecHash names the spec ("sha256:<hex>" of its content), so readers
	// can cache it.
	SpecHash string `json:"spec_hash,omitempty"`
	// PartitionCount is the number of partitions in the spec ("all" counts
	// as one for a whole-table backfill).
	PartitionCount int `json:"partition_count"`
	// Staging and Backup are the staging and backup tables,
	// "<project>.<dataset>.<table>" ("" before they are known).
	Staging string `json:"staging_table,omitempty"`
	Backup  string `json:"backup_table,omitempty"`
	// Watchers are the e-mail addresses notified of its progress.
	Watchers []string `json:"watchers,omitempty"`

	// CreatedAt: recorded. UpdatedAt: last changed by the pipeline.
	// StartedAt: staging prepared. PublishedAt: partition messages
	// published. ProcessedAt: every partition done. CompletionRequestedAt:
	// the entry was flipped to Complete. CompletedAt: swapped in. Unset
	// times are omitted from the JSON.
	CreatedAt             time.Time `json:"created_at"`
	UpdatedAt             time.Time `json:"updated_at"`
	StartedAt             time.Time `json:"started_at,omitzero"`
	PublishedAt           time.Time `json:"published_at,omitzero"`
	ProcessedAt           time.Time `json:"processed_at,omitzero"`
	CompletionRequestedAt time.Time `json:"completion_requested_at,omitzero"`
	CompletedAt           time.Time `json:"completed_at,omitzero"`

	// LastError is the latest error that stopped or failed it ("" if none).
	LastError string `json:"last_error,omitempty"`
	// Failure is why a failed backfill failed, so that retry knows what
	// to redo; empty in any other state (Transition clears it).
	Failure FailureKind `json:"failure,omitempty"`
	// FailedPartitions names the partitions a FailureStagingLost refusal
	// found empty or missing in staging; retry re-runs them.
	FailedPartitions []string `json:"failed_partitions,omitempty"`
	// AllowEmpty names the partitions an operator confirmed production
	// may lose (bqbackfill complete --allow-empty) although their workers
	// recorded rows that staging no longer holds: the swap empties them.
	// It survives the moves back to completing; retry clears it.
	AllowEmpty []string `json:"allow_empty,omitempty"`
	// Reported holds the notifications already sent (by kind), and when,
	// so each is sent once however often the scanner runs.
	Reported map[string]time.Time `json:"reported,omitempty"`
	// Held says why the scanner holds a completing backfill instead of
	// finishing it: its entry is no longer Complete (set to Cancelled, or
	// back to Initiate), so production is left half-swapped until an
	// operator runs `bqbackfill complete` (which clears it) or `bqbackfill
	// rollback`. The scanner reports it on every scan; "" otherwise.
	Held string `json:"held,omitempty"`
	// RollbackStartedAt is when an operator's rollback of a completing
	// backfill began: from then on no completion request swaps more of it.
	RollbackStartedAt time.Time `json:"rollback_started_at,omitzero"`
	// Completions are the completion requests at work on the backfill, by
	// request id, each with its latest heartbeat. A request enters before
	// it touches anything, beats while its swap jobs run, and leaves once
	// every job it started has ended; a rollback restores nothing while a
	// request is here with a heartbeat younger than the lease (see
	// pipeline.Options.CompletionLease). Empty in local mode.
	Completions map[string]time.Time `json:"completions,omitempty"`
	// CompletionStoppedAt is when the last completion request that saw
	// the rollback's fence stopped, its jobs ended (its acknowledgement).
	CompletionStoppedAt time.Time `json:"completion_stopped_at,omitzero"`

	// Generation is the GCS generation the record was read or written at.
	// It is not stored; Update uses the one it reads itself.
	Generation int64 `json:"-"`
}

// HeldForOperator reports whether the backfill waits for an operator: its
// completion is held (Held) or an operator's rollback of it began. Runs
// report it as held, not as work left unfinished.
func (b *Backfill) HeldForOperator() bool {
	return b.Held != "" || !b.RollbackStartedAt.IsZero()
}

// Create records a new backfill, with its spec (b.Spec, if set, is stored
// with ReplaceSpec and b.SpecHash set to its hash). Exactly one of many
// concurrent Creates of one id succeeds; the others return ErrExists, and
// the record keeps the winner's SpecHash, which names the winner's spec.
// On success b.Generation is the new record's generation.
func (s *Store) Create(ctx context.Context, b *Backfill) error {
	p, err := backfillPrefix(b.ID)
	if err != nil {
		return err
	}
	table, date, _ := strings.Cut(b.ID, "/")
	if (b.Table != "" && b.Table != table) || (b.EntryDate != "" && b.EntryDate != date) {
		return fmt.Errorf("ledger: create %s: table %q and entry date %q do not match the id: %w", b.ID, b.Table, b.EntryDate, ErrInvalidName)
	}
	if b.Table == "" {
		b.Table = table
	}
	if b.EntryDate == "" {
		b.EntryDate = date
	}
	if b.State == "" {
		b.State = StatePending
	}
	if !b.State.Valid() {
		return fmt.Errorf("ledger: create %s in unknown state %q: %w", b.ID, b.State, ErrInvalidTransition)
	}
	if len(b.Spec) > 0 {
		if err := s.ReplaceSpec(ctx, b.ID, b.Spec); err != nil {
			return err
		}
		b.SpecHash = specHash(b.Spec)
	}
	data, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("encode %s: %w", b.ID, err)
	}
	gen, err := s.write(ctx, p+"backfill.json", 0, data, stateMeta(b.State))
	if isPrecondition(err) {
		return fmt.Errorf("create %s: %w", b.ID, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", b.ID, err)
	}
	b.Generation = gen
	return nil
}

func specHash(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// specName is the object holding the spec with hash h (a SpecHash):
// specs/<hex>.json under the backfill's folder. Specs are content
// addressed, so each is written once, with a does-not-exist precondition,
// and never changes; two scanners racing to start one backfill with
// different specs cannot overwrite each other's, and the record's SpecHash
// always names the spec it was created with.
func specName(id, h string) (string, error) {
	hexSum, ok := strings.CutPrefix(h, "sha256:")
	if !ok || len(hexSum) != 2*sha256.Size {
		return "", fmt.Errorf("ledger: invalid spec hash %q of %s: %w", h, id, ErrInvalidName)
	}
	return childName(id, "specs", hexSum)
}

// ReplaceSpec stores a spec for a backfill and does not touch its record:
// the caller then points the record at it by setting SpecHash to
// SpecHashOf(raw) in an Update (Create does both). Storing a spec that is
// already stored is a no-op.
func (s *Store) ReplaceSpec(ctx context.Context, id string, raw json.RawMessage) error {
	name, err := specName(id, specHash(raw))
	if err != nil {
		return err
	}
	if _, err := s.write(ctx, name, 0, raw, nil); err != nil {
		if isPrecondition(err) {
			return nil // the same content is already there
		}
		return fmt.Errorf("write gs://%s/%s: %w", s.bucket, name, err)
	}
	return nil
}

// SpecHashOf is the SpecHash of a spec's content: "sha256:<hex>".
func SpecHashOf(raw json.RawMessage) string { return specHash(raw) }

// Spec reads the spec the backfill's record names (its SpecHash);
// ErrNotFound if there is no record or it names no spec.
func (s *Store) Spec(ctx context.Context, id string) (json.RawMessage, error) {
	b, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if b.SpecHash == "" {
		return nil, fmt.Errorf("spec of %s: %w", id, ErrNotFound)
	}
	name, err := specName(id, b.SpecHash)
	if err != nil {
		return nil, err
	}
	data, _, err := s.read(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("spec %s of %s: %w", b.SpecHash, id, ErrNotFound)
	}
	return data, err
}

// Get reads a backfill; ErrNotFound if it is not recorded.
func (s *Store) Get(ctx context.Context, id string) (*Backfill, error) {
	p, err := backfillPrefix(id)
	if err != nil {
		return nil, err
	}
	data, gen, err := s.read(ctx, p+"backfill.json")
	if err != nil {
		return nil, err
	}
	var b Backfill
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("decode ledger record %s: %w", id, err)
	}
	b.Generation = gen
	return &b, nil
}

// Update applies fn to the current record and writes it back if nothing
// changed it meanwhile, retrying with the fresh record otherwise. fn may
// run several times; it returns ErrNoChange to skip the write (Update then
// returns the current record and ErrNoChange).
func (s *Store) Update(ctx context.Context, id string, fn func(*Backfill) error) (*Backfill, error) {
	p, err := backfillPrefix(id)
	if err != nil {
		return nil, err
	}
	var b *Backfill
	gen, err := s.update(ctx, p+"backfill.json", false,
		func(data []byte, _ bool) error {
			b = &Backfill{}
			return json.Unmarshal(data, b)
		},
		func() error {
			from := b.State
			if err := fn(b); err != nil {
				return err
			}
			if b.ID != id {
				return fmt.Errorf("ledger: %s: an update cannot change the id (to %q)", id, b.ID)
			}
			if !CanTransition(from, b.State) {
				return fmt.Errorf("ledger: %s cannot go from %s to %s: %w", id, from, b.State, ErrInvalidTransition)
			}
			return nil
		},
		func() ([]byte, map[string]string, error) {
			data, err := json.Marshal(b)
			return data, stateMeta(b.State), err
		})
	if b != nil {
		b.Generation = gen
	}
	if err != nil {
		if errors.Is(err, ErrNoChange) {
			return b, err
		}
		return nil, fmt.Errorf("update %s: %w", id, err)
	}
	return b, nil
}

// Transition moves a backfill from one of the states in from to state to,
// applying mutate (nil: no other change) to the record it writes, with
// compare-and-swap. It reports whether this call moved it: false, with a
// nil error, when the record is in none of the from states (another caller
// moved it first, or there was nothing to do) or mutate returned
// ErrNoChange. mutate may run several times (the compare-and-swap can lose
// a race) and must not change the state. Leaving the failed state clears
// the recorded failure.
func (s *Store) Transition(ctx context.Context, id string, from []State, to State, mutate func(*Backfill) error) (bool, error) {
	moved := false
	_, err := s.Update(ctx, id, func(b *Backfill) error {
		moved = false
		if !slices.Contains(from, b.State) {
			return ErrNoChange
		}
		b.State = to
		if to != StateFailed {
			b.Failure, b.FailedPartitions = FailureNone, nil
		}
		if mutate != nil {
			if err := mutate(b); err != nil {
				return err
			}
			if b.State != to {
				return fmt.Errorf("ledger: %s: a transition to %s cannot change the state (to %s): %w", id, to, b.State, ErrInvalidTransition)
			}
		}
		moved = true
		return nil
	})
	if errors.Is(err, ErrNoChange) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return moved, nil
}

// List returns every backfill record, sorted by id.
func (s *Store) List(ctx context.Context) ([]*Backfill, error) {
	return s.list(ctx, root, "")
}

// ListTable returns the backfill records of one table
// ("<project>.<dataset>.<table>"), sorted by id, that is by entry date.
func (s *Store) ListTable(ctx context.Context, table string) ([]*Backfill, error) {
	if !validSegment(table) {
		return nil, fmt.Errorf("ledger: invalid table %q: %w", table, ErrInvalidName)
	}
	return s.list(ctx, root+table+"/", "")
}

// stateMeta is a backfill record's object metadata: its state, as
// partition records keep theirs, so that ListState finds the records in
// one state from one listing without reading every record.
func stateMeta(st State) map[string]string { return map[string]string{stateKey: string(st)} }

// recordGlob matches the backfill records, root/<table>/<date>/backfill.json.
const recordGlob = root + "*/*/backfill.json"

// ListState returns the backfill records in state st, sorted by id: one
// listing of the ledger (whose object metadata carries each record's
// state) plus a read of each match. A record written before the state was
// kept in the metadata is read to learn its state; its next write adds it.
func (s *Store) ListState(ctx context.Context, st State) ([]*Backfill, error) {
	return s.list(ctx, root, st)
}

// list reads the backfill records under prefix (the ledger, or one
// table's folder), those in state st only (any state when st is ""),
// sorted by id.
//
// The listing asks Cloud Storage for backfills/<table>/<date>/backfill.json
// only, with matchGlob ("*" stays within one path segment): the backfill
// records sit beside their partition and swap records (DESIGN.md's layout),
// and a listing of the prefix alone would page through every partition
// record of every backfill ever run (1,000 objects a page) on each scan.
// fake-gcs-server ignores matchGlob; shared/gcsfake.MatchGlob adds it where
// the fake is served. The glob is the same for one table: the prefix
// narrows it, so no table name is ever spelled in a glob (where its
// characters would need escaping).
func (s *Store) list(ctx context.Context, prefix string, st State) ([]*Backfill, error) {
	ids, err := s.namesBy(ctx, prefix, recordGlob, func(a *storage.ObjectAttrs) (string, bool) {
		// Only <prefix...>/<table>/<date>/backfill.json, not a spec or a
		// partition that happens to be named backfill: checked here too,
		// for a server that ignores matchGlob.
		id, ok := strings.CutSuffix(strings.TrimPrefix(a.Name, root), "/backfill.json")
		if !ok || strings.Count(id, "/") != 1 {
			return "", false
		}
		got, known := a.Metadata[stateKey]
		return id, st == "" || !known || got == string(st)
	})
	if err != nil {
		return nil, err
	}
	out, err := readEach(ctx, s, len(ids), func(i int) (*Backfill, error) { return s.Get(ctx, ids[i]) })
	if err != nil {
		return nil, err
	}
	var res []*Backfill
	for _, b := range out {
		// The state is checked again: the record may have moved since the
		// listing.
		if st == "" || b.State == st {
			res = append(res, b)
		}
	}
	return res, nil
}
