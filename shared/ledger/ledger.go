// Package ledger keeps the state of every backfill in GCS objects, through
// cloud.google.com/go/storage:
//
//	backfills/<project>.<dataset>.<table>/<entry_date>/backfill.json
//	backfills/<project>.<dataset>.<table>/<entry_date>/partitions/<id>.json
//	backfills/<project>.<dataset>.<table>/<entry_date>/swap/<step>.json
//	backfills/<project>.<dataset>.<table>/<entry_date>/specs/<sha256>.json
//
// Separate objects because GCS allows about one write per second to one
// object, and many workers record partitions at once. Every write is an
// upload with a precondition: creation requires that the object does not
// exist (so of many concurrent scanners exactly one starts a backfill), and
// every update requires the generation that was read (compare-and-swap,
// retried with jittered backoff when another writer got in first). Specs
// are content addressed and never rewritten. Only upload preconditions are
// used: the file-backed fake GCS of local mode honours no others (and its
// metadata updates change the generation). Reads that fail their checksum
// (the file-backed fake can pair one generation's content with another's
// CRC) are retried. Object names are validated so they mean the same on
// real GCS and on the fake: no "..", no empty segment ("//"), no trailing
// "/", no control characters.
//
// A partition record's state is also kept in its object's metadata, so
// PartitionStates and PartitionSummary need one listing and no reads.
package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
)

// State is a backfill's state.
type State string

// The states of a backfill:
//
//	pending -> staging -> processing -> processed -> completing -> completed -> rolled_back
//	                                 \-> failed ---/ (retry: failed -> processing)
//
// plus cancelled (from any state before completing) and rejected (an entry
// that failed validation; fixing the entry moves it back to pending). See
// CanTransition for the whole table.
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
// itself). Completing cannot be cancelled: a half-swapped table is finished
// or reported failed, never abandoned.
var transitions = map[State][]State{
	StatePending:    {StateStaging, StateFailed, StateCancelled, StateRejected},
	StateStaging:    {StateProcessing, StateFailed, StateCancelled},
	StateProcessing: {StateProcessed, StateFailed, StateCancelled},
	StateProcessed:  {StateCompleting, StateCancelled},
	StateFailed:     {StateProcessing, StatePending, StateProcessed, StateCancelled},
	StateCompleting: {StateCompleted, StateFailed},
	StateCompleted:  {StateRolledBack},
	StateRejected:   {StatePending},
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
	// Reported holds the notifications already sent (by kind), and when,
	// so each is sent once however often the scanner runs.
	Reported map[string]time.Time `json:"reported,omitempty"`
	// Execution is the latest worker job execution (Cloud Run execution
	// name) started for it.
	Execution string `json:"execution,omitempty"`

	// Generation is the GCS generation the record was read or written at.
	// It is not stored; Update uses the one it reads itself.
	Generation int64 `json:"-"`
}

// PartitionState is the state of one partition.
type PartitionState string

// Partition states. A partition with no record yet is pending.
const (
	PartitionPending PartitionState = "pending" // not started
	PartitionRunning PartitionState = "running" // a worker is computing it
	PartitionDone    PartitionState = "done"    // in staging
	PartitionFailed  PartitionState = "failed"  // every attempt failed
)

// PartitionRecord is the record of one partition (partitions/<id>.json).
type PartitionRecord struct {
	// ID is the partition decorator (20240101, 202401) or "all" for a
	// whole-table backfill.
	ID string `json:"id"`
	// State is the partition's state.
	State PartitionState `json:"state"`
	// Attempts counts the attempts started, across redeliveries.
	Attempts int `json:"attempts"`
	// JobID is the warehouse job of the latest attempt.
	JobID string `json:"job_id,omitempty"`
	// BytesProcessed and Rows are the latest successful attempt's
	// statistics: bytes the query read, rows it wrote to the partition.
	BytesProcessed int64 `json:"bytes_processed,omitempty"`
	Rows           int64 `json:"rows"`
	// Duration is how long the latest attempt took (JSON: nanoseconds).
	Duration time.Duration `json:"duration_ns,omitempty"`
	// Error is the latest attempt's error ("" if it succeeded).
	Error string `json:"error,omitempty"`
	// UpdatedAt is when the record last changed.
	UpdatedAt time.Time `json:"updated_at"`

	// Generation is the GCS generation the record was read or written at
	// (not stored).
	Generation int64 `json:"-"`
}

// SwapStep is the record of one completion step (swap/<name>.json): names
// such as "backup", "copy-<partition>", "delete-staging". A step's name is
// one object-name segment, so it has no "/".
type SwapStep struct {
	// Name is the step's name.
	Name string `json:"name"`
	// Done is set once the step's effect is in the warehouse.
	Done bool `json:"done"`
	// JobID is the warehouse job that did (or is doing) it.
	JobID string `json:"job_id,omitempty"`
	// At is when it was done (or last attempted).
	At time.Time `json:"at,omitzero"`
	// Error is the last attempt's error ("" if none).
	Error string `json:"error,omitempty"`

	// Generation is the GCS generation the record was read or written at
	// (not stored).
	Generation int64 `json:"-"`
}

// Errors.
var (
	// ErrNotFound: no such record.
	ErrNotFound = errors.New("ledger: not found")
	// ErrExists: Create found the record already there.
	ErrExists = errors.New("ledger: already exists")
	// ErrConflict: an update lost the compare-and-swap race too many times.
	ErrConflict = errors.New("ledger: too many concurrent updates")
	// ErrNoChange: returned by an update function to skip the write.
	ErrNoChange = errors.New("ledger: no change")
	// ErrInvalidTransition: an update function moved a backfill to a state
	// CanTransition forbids; nothing was written.
	ErrInvalidTransition = errors.New("ledger: invalid state transition")
	// ErrInvalidName: a backfill id, partition id or step name that cannot
	// be part of an object name.
	ErrInvalidName = errors.New("ledger: invalid name")
)

// Store reads and writes the ledger in one bucket. Safe for concurrent use.
type Store struct {
	client *storage.Client
	bucket string
	// MaxAttempts bounds the compare-and-swap loop of one update [50].
	MaxAttempts int
}

// New returns a Store over bucket.
func New(client *storage.Client, bucket string) *Store {
	return &Store{client: client, bucket: bucket, MaxAttempts: 50}
}

const root = "backfills/"

// backfillPrefix is the folder of a backfill's objects. An id is
// "<table>/<entry_date>": exactly two name segments (see validSegment).
func backfillPrefix(id string) (string, error) {
	table, date, ok := strings.Cut(id, "/")
	if !ok || !validSegment(table) || !validSegment(date) {
		return "", fmt.Errorf("ledger: invalid backfill id %q (want <project>.<dataset>.<table>/<entry_date>): %w", id, ErrInvalidName)
	}
	return root + id + "/", nil
}

func childName(id, dir, name string) (string, error) {
	p, err := backfillPrefix(id)
	if err != nil {
		return "", err
	}
	if !validSegment(name) {
		return "", fmt.Errorf("ledger: invalid %s name %q: %w", strings.TrimSuffix(dir, "s"), name, ErrInvalidName)
	}
	return p + dir + "/" + name + ".json", nil
}

// validSegment reports whether s can be one segment of an object name on
// real GCS and on the file-backed fake alike: not empty, no "/" (so no "//"
// and no trailing "/", which the fake drops or rewrites), no ".." (which
// escapes the fake's root), no backslash, valid UTF-8 without control
// characters, and at most 200 bytes.
func validSegment(s string) bool {
	if s == "" || len(s) > 200 || s == "." || strings.Contains(s, "..") || strings.ContainsAny(s, "/\\") || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func (s *Store) obj(name string) *storage.ObjectHandle { return s.client.Bucket(s.bucket).Object(name) }

// read returns an object's content and generation.
func (s *Store) read(ctx context.Context, name string) ([]byte, int64, error) {
	var lastErr error
	for attempt := 0; attempt < readAttempts; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, time.Duration(attempt)*time.Millisecond); err != nil {
				return nil, 0, fmt.Errorf("read gs://%s/%s: %w (after %v)", s.bucket, name, err, lastErr)
			}
		}
		r, err := s.obj(name).NewReader(ctx)
		if errors.Is(err, storage.ErrObjectNotExist) {
			return nil, 0, ErrNotFound
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read gs://%s/%s: %w", s.bucket, name, err)
		}
		data, err := io.ReadAll(r)
		gen := r.Attrs.Generation
		r.Close()
		if err == nil {
			return data, gen, nil
		}
		// The file-backed fake can pair a concurrent rewrite's content with
		// the old checksum; a retry reads a consistent pair.
		lastErr = err
		if !strings.Contains(err.Error(), "bad CRC") {
			break
		}
	}
	return nil, 0, fmt.Errorf("read gs://%s/%s: %w", s.bucket, name, lastErr)
}

// readAttempts bounds the retries of a read that fails its checksum.
const readAttempts = 8

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// write uploads data; gen 0 means "must not exist", otherwise the object's
// generation must equal gen. It returns the new generation, or a
// precondition error.
func (s *Store) write(ctx context.Context, name string, gen int64, data []byte, meta map[string]string) (int64, error) {
	cond := storage.Conditions{DoesNotExist: true}
	if gen != 0 {
		cond = storage.Conditions{GenerationMatch: gen}
	}
	w := s.obj(name).If(cond).NewWriter(ctx)
	w.ContentType = "application/json"
	w.Metadata = meta
	w.ChunkSize = 0
	if _, err := w.Write(data); err != nil {
		w.Close()
		return 0, err
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	return w.Attrs().Generation, nil
}

func isPrecondition(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && (ge.Code == http.StatusPreconditionFailed || ge.Code == http.StatusConflict)
}

// update runs a read-modify-CAS-write loop on one object. load decodes the
// current content (or creates a value when missing and create is true),
// fn modifies it, save encodes it.
func (s *Store) update(ctx context.Context, name string, create bool, load func(data []byte, exists bool) error, fn func() error, save func() ([]byte, map[string]string, error)) (int64, error) {
	return s.updateFrom(ctx, name, create, nil, load, fn, save)
}

// snapshot is an object's content as the caller last read it, to save the
// first read of an update (gen 0: believed absent).
type snapshot struct {
	data []byte
	gen  int64
}

func (s *Store) updateFrom(ctx context.Context, name string, create bool, first *snapshot, load func(data []byte, exists bool) error, fn func() error, save func() ([]byte, map[string]string, error)) (int64, error) {
	attempts := s.MaxAttempts
	if attempts <= 0 {
		attempts = 50
	}
	backoff := 5 * time.Millisecond
	for i := 0; i < attempts; i++ {
		var data []byte
		var gen int64
		var err error
		if first != nil {
			data, gen, first = first.data, first.gen, nil
			if gen == 0 {
				err = ErrNotFound
			}
		} else {
			data, gen, err = s.read(ctx, name)
		}
		exists := err == nil
		if errors.Is(err, ErrNotFound) {
			if !create {
				return 0, ErrNotFound
			}
		} else if err != nil {
			return 0, err
		}
		if err := load(data, exists); err != nil {
			return 0, err
		}
		if err := fn(); err != nil {
			return gen, err
		}
		out, meta, err := save()
		if err != nil {
			return 0, err
		}
		newGen, err := s.write(ctx, name, gen, out, meta)
		if err == nil {
			return newGen, nil
		}
		if !isPrecondition(err) {
			return 0, fmt.Errorf("write gs://%s/%s: %w", s.bucket, name, err)
		}
		if err := sleep(ctx, backoff/2+time.Duration(rand.Int64N(int64(backoff)))); err != nil {
			return 0, err
		}
		if backoff < 500*time.Millisecond {
			backoff *= 2
		}
	}
	return 0, fmt.Errorf("update gs://%s/%s: %w", s.bucket, name, ErrConflict)
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
	gen, err := s.write(ctx, p+"backfill.json", 0, data, nil)
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
			return data, nil, err
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

// List returns every backfill record, sorted by id.
func (s *Store) List(ctx context.Context) ([]*Backfill, error) {
	return s.list(ctx, root)
}

// ListTable returns the backfill records of one table
// ("<project>.<dataset>.<table>"), sorted by id, that is by entry date.
func (s *Store) ListTable(ctx context.Context, table string) ([]*Backfill, error) {
	if !validSegment(table) {
		return nil, fmt.Errorf("ledger: invalid table %q: %w", table, ErrInvalidName)
	}
	return s.list(ctx, root+table+"/")
}

// list reads the backfill records under prefix.
func (s *Store) list(ctx context.Context, prefix string) ([]*Backfill, error) {
	names, err := s.names(ctx, prefix, func(n string) bool {
		// Only <prefix...>/<table>/<date>/backfill.json, not a spec or a
		// partition that happens to be named backfill.
		rest, ok := strings.CutSuffix(strings.TrimPrefix(n, root), "/backfill.json")
		return ok && strings.Count(rest, "/") == 1
	})
	if err != nil {
		return nil, err
	}
	out := make([]*Backfill, len(names))
	err = s.each(ctx, len(names), func(i int) error {
		id := strings.TrimSuffix(strings.TrimPrefix(names[i], root), "/backfill.json")
		b, err := s.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		out[i] = b
		return err
	})
	if err != nil {
		return nil, err
	}
	var res []*Backfill
	for _, b := range out {
		if b != nil {
			res = append(res, b)
		}
	}
	sort.Slice(res, func(i, j int) bool { return res[i].ID < res[j].ID })
	return res, nil
}

func (s *Store) names(ctx context.Context, prefix string, keep func(string) bool) ([]string, error) {
	it := s.client.Bucket(s.bucket).Objects(ctx, &storage.Query{Prefix: prefix})
	var names []string
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list gs://%s/%s: %w", s.bucket, prefix, err)
		}
		if keep(a.Name) {
			names = append(names, a.Name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// each runs f(0..n-1), 16 at a time, and returns the first error; after an
// error, or once ctx is done, it starts no more calls.
func (s *Store) each(ctx context.Context, n int, f func(i int) error) error {
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return first != nil
	}
	for i := 0; i < n && !failed(); i++ {
		if err := ctx.Err(); err != nil {
			mu.Lock()
			if first == nil {
				first = err
			}
			mu.Unlock()
			break
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	return first
}

// GetPartition reads one partition record; ErrNotFound if none was written.
func (s *Store) GetPartition(ctx context.Context, id, partition string) (*PartitionRecord, error) {
	name, err := childName(id, "partitions", partition)
	if err != nil {
		return nil, err
	}
	data, gen, err := s.read(ctx, name)
	if err != nil {
		return nil, err
	}
	var r PartitionRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decode %s: %w", name, err)
	}
	r.Generation = gen
	return &r, nil
}

// UpdatePartition applies fn to a partition record (a new pending record
// when none exists) with compare-and-swap, like Update.
func (s *Store) UpdatePartition(ctx context.Context, id, partition string, fn func(*PartitionRecord) error) (*PartitionRecord, error) {
	return s.updatePartition(ctx, id, partition, nil, fn)
}

// UpdatePartitionFrom is UpdatePartition starting from cur, the record as
// the caller just read it (nil: it did not exist), saving one read when
// nothing changed it meanwhile.
func (s *Store) UpdatePartitionFrom(ctx context.Context, id, partition string, cur *PartitionRecord, fn func(*PartitionRecord) error) (*PartitionRecord, error) {
	first := &snapshot{}
	if cur != nil {
		data, err := json.Marshal(cur)
		if err != nil {
			return nil, err
		}
		first = &snapshot{data: data, gen: cur.Generation}
	}
	return s.updatePartition(ctx, id, partition, first, fn)
}

func (s *Store) updatePartition(ctx context.Context, id, partition string, first *snapshot, fn func(*PartitionRecord) error) (*PartitionRecord, error) {
	name, err := childName(id, "partitions", partition)
	if err != nil {
		return nil, err
	}
	var r *PartitionRecord
	gen, err := s.updateFrom(ctx, name, true, first,
		func(data []byte, exists bool) error {
			r = &PartitionRecord{ID: partition, State: PartitionPending}
			if !exists {
				return nil
			}
			return json.Unmarshal(data, r)
		},
		func() error { return fn(r) },
		func() ([]byte, map[string]string, error) {
			data, err := json.Marshal(r)
			// The state is also object metadata, so PartitionStates can read
			// every partition's state from one listing.
			return data, map[string]string{stateKey: string(r.State)}, err
		})
	if r != nil {
		r.Generation = gen
	}
	if err != nil {
		if errors.Is(err, ErrNoChange) {
			return r, err
		}
		return nil, fmt.Errorf("update partition %s of %s: %w", partition, id, err)
	}
	return r, nil
}

// ListPartitions returns the partition records written so far, by id.
func (s *Store) ListPartitions(ctx context.Context, id string) ([]*PartitionRecord, error) {
	p, err := backfillPrefix(id)
	if err != nil {
		return nil, err
	}
	names, err := s.names(ctx, p+"partitions/", func(n string) bool { return strings.HasSuffix(n, ".json") })
	if err != nil {
		return nil, err
	}
	out := make([]*PartitionRecord, len(names))
	err = s.each(ctx, len(names), func(i int) error {
		r, err := s.GetPartition(ctx, id, strings.TrimSuffix(path.Base(names[i]), ".json"))
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		out[i] = r
		return err
	})
	if err != nil {
		return nil, err
	}
	var res []*PartitionRecord
	for _, r := range out {
		if r != nil {
			res = append(res, r)
		}
	}
	return res, nil
}

const stateKey = "bqbackfill-state"

// PartitionStates returns the state of every partition record written so
// far, from one listing (the state is kept in each object's metadata).
func (s *Store) PartitionStates(ctx context.Context, id string) (map[string]PartitionState, error) {
	states, _, err := s.PartitionProgress(ctx, id)
	return states, err
}

// PartitionProgress is PartitionStates plus the time the most recent
// partition record was written (zero when none was): the backfill's last
// sign of progress, from the same single listing.
func (s *Store) PartitionProgress(ctx context.Context, id string) (map[string]PartitionState, time.Time, error) {
	p, err := backfillPrefix(id)
	if err != nil {
		return nil, time.Time{}, err
	}
	var last time.Time
	prefix := p + "partitions/"
	it := s.client.Bucket(s.bucket).Objects(ctx, &storage.Query{Prefix: prefix})
	out := map[string]PartitionState{}
	var missing []string
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("list gs://%s/%s: %w", s.bucket, prefix, err)
		}
		if !strings.HasSuffix(a.Name, ".json") {
			continue
		}
		if a.Updated.After(last) {
			last = a.Updated
		}
		pid := strings.TrimSuffix(path.Base(a.Name), ".json")
		if st := a.Metadata[stateKey]; st != "" {
			out[pid] = PartitionState(st)
		} else {
			missing = append(missing, pid)
		}
	}
	// Records written without the metadata are read one by one.
	for _, pid := range missing {
		r, err := s.GetPartition(ctx, id, pid)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, time.Time{}, err
		}
		out[pid] = r.State
	}
	return out, last, nil
}

// Summary counts a backfill's partition records by state.
type Summary struct {
	// Counts holds the number of records in each state (states with none
	// are absent).
	Counts map[PartitionState]int
	// Total is the number of partition records written so far (partitions
	// never recorded are not counted; compare with Backfill.PartitionCount).
	Total int
	// Failed lists the ids of failed partitions, sorted.
	Failed []string
}

// PartitionSummary counts the partition records of a backfill with one
// listing (states come from object metadata; a record written without it
// is read).
func (s *Store) PartitionSummary(ctx context.Context, id string) (Summary, error) {
	states, err := s.PartitionStates(ctx, id)
	if err != nil {
		return Summary{}, fmt.Errorf("summarize partitions of %s: %w", id, err)
	}
	sum := Summary{Counts: map[PartitionState]int{}, Total: len(states)}
	for pid, st := range states {
		sum.Counts[st]++
		if st == PartitionFailed {
			sum.Failed = append(sum.Failed, pid)
		}
	}
	sort.Strings(sum.Failed)
	return sum, nil
}

// GetSwapStep reads one swap step; ErrNotFound if not written.
func (s *Store) GetSwapStep(ctx context.Context, id, step string) (*SwapStep, error) {
	name, err := childName(id, "swap", step)
	if err != nil {
		return nil, err
	}
	data, gen, err := s.read(ctx, name)
	if err != nil {
		return nil, err
	}
	var st SwapStep
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("decode %s: %w", name, err)
	}
	st.Generation = gen
	return &st, nil
}

// UpdateSwapStep applies fn to a swap step (new when missing) with
// compare-and-swap, like Update.
func (s *Store) UpdateSwapStep(ctx context.Context, id, step string, fn func(*SwapStep) error) (*SwapStep, error) {
	name, err := childName(id, "swap", step)
	if err != nil {
		return nil, err
	}
	var st *SwapStep
	gen, err := s.update(ctx, name, true,
		func(data []byte, exists bool) error {
			st = &SwapStep{Name: step}
			if !exists {
				return nil
			}
			return json.Unmarshal(data, st)
		},
		func() error { return fn(st) },
		func() ([]byte, map[string]string, error) {
			data, err := json.Marshal(st)
			return data, nil, err
		})
	if st != nil {
		st.Generation = gen
	}
	if err != nil {
		if errors.Is(err, ErrNoChange) {
			return st, err
		}
		return nil, fmt.Errorf("update swap step %s of %s: %w", step, id, err)
	}
	return st, nil
}

// ListSwapSteps returns the swap steps written so far, by name.
func (s *Store) ListSwapSteps(ctx context.Context, id string) ([]*SwapStep, error) {
	p, err := backfillPrefix(id)
	if err != nil {
		return nil, err
	}
	names, err := s.names(ctx, p+"swap/", func(n string) bool { return strings.HasSuffix(n, ".json") })
	if err != nil {
		return nil, err
	}
	steps := make([]*SwapStep, len(names))
	err = s.each(ctx, len(names), func(i int) error {
		st, err := s.GetSwapStep(ctx, id, strings.TrimSuffix(path.Base(names[i]), ".json"))
		if errors.Is(err, ErrNotFound) {
			return nil // deleted since the listing
		}
		steps[i] = st
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []*SwapStep
	for _, st := range steps {
		if st != nil {
			out = append(out, st)
		}
	}
	return out, nil
}
