// Package ledger keeps the state of every backfill in GCS objects, through
// cloud.google.com/go/storage:
//
//	backfills/<project>.<dataset>.<table>/<entry_date>/backfill.json
//	backfills/<project>.<dataset>.<table>/<entry_date>/partitions/<id>.json
//	backfills/<project>.<dataset>.<table>/<entry_date>/swap/<step>.json
//
// Separate objects because GCS allows about one write per second to one
// object, and many workers record partitions at once. Every write is an
// upload with a precondition: creation requires that the object does not
// exist (so of many concurrent scanners exactly one starts a backfill), and
// every update requires the generation that was read (compare-and-swap).
// Only upload preconditions are used: the file-backed fake GCS of local mode
// honours no others.
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

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
)

// State is a backfill's state.
type State string

// The states of a backfill: pending -> staging -> processing -> processed |
// failed -> completing -> completed, plus cancelled, rejected and rolled_back.
const (
	StatePending    State = "pending"    // recorded; staging not prepared yet
	StateStaging    State = "staging"    // preparing staging (claimed by one scanner)
	StateProcessing State = "processing" // partitions queued or running
	StateProcessed  State = "processed"  // every partition in staging; waiting for Complete
	StateFailed     State = "failed"     // some partition failed, or the start or swap was refused
	StateCompleting State = "completing" // backing up and swapping
	StateCompleted  State = "completed"  // production updated, staging deleted
	StateCancelled  State = "cancelled"  // the entry was set to Cancelled
	StateRejected   State = "rejected"   // the entry failed validation; nothing ran
	StateRolledBack State = "rolled_back"
)

var transitions = map[State][]State{
	StatePending:    {StateStaging, StateFailed, StateCancelled, StateRejected},
	StateStaging:    {StateProcessing, StateFailed, StateCancelled},
	StateProcessing: {StateProcessed, StateFailed, StateCancelled},
	StateProcessed:  {StateCompleting, StateCancelled},
	StateFailed:     {StateProcessing, StatePending, StateProcessed, StateCancelled},
	StateCompleting: {StateCompleted, StateFailed},
	StateCompleted:  {StateRolledBack},
	StateRejected:   {StatePending, StateRejected},
}

// CanTransition reports whether a backfill may move from one state to another.
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

// Terminal reports whether no automatic step follows s.
func (s State) Terminal() bool {
	switch s {
	case StateCompleted, StateCancelled, StateRejected, StateRolledBack:
		return true
	}
	return false
}

// Backfill is the record of one entry (backfill.json).
type Backfill struct {
	ID        string `json:"id"` // <project>.<dataset>.<table>/<entry_date>
	Table     string `json:"table"`
	EntryDate string `json:"entry_date"`
	State     State  `json:"state"`
	// EntryHash identifies the entry's content (status excluded) when it started.
	EntryHash string `json:"entry_hash"`
	// Spec is the pipeline's plan for the backfill (shared/pipeline.Spec).
	// It is stored in its own object, spec.json, written by Create (and
	// ReplaceSpec), because it grows with the partitions while this record
	// is read for every partition; Get leaves it empty (see Store.Spec).
	Spec json.RawMessage `json:"-"`
	// SpecHash identifies the content of spec.json ("sha256:…"), so readers
	// can cache the spec.
	SpecHash string `json:"spec_hash,omitempty"`
	// PartitionCount is the number of partitions.
	PartitionCount int      `json:"partition_count"`
	Staging        string   `json:"staging_table,omitempty"`
	Backup         string   `json:"backup_table,omitempty"`
	Watchers       []string `json:"watchers,omitempty"`

	CreatedAt             time.Time `json:"created_at"`
	UpdatedAt             time.Time `json:"updated_at"`
	StartedAt             time.Time `json:"started_at,omitzero"`
	PublishedAt           time.Time `json:"published_at,omitzero"`
	ProcessedAt           time.Time `json:"processed_at,omitzero"`
	CompletionRequestedAt time.Time `json:"completion_requested_at,omitzero"`
	CompletedAt           time.Time `json:"completed_at,omitzero"`

	LastError string `json:"last_error,omitempty"`
	// Reported holds the notifications already sent, for report-once.
	Reported map[string]time.Time `json:"reported,omitempty"`
	// Execution is the latest worker job execution started for it.
	Execution string `json:"execution,omitempty"`

	// Generation is the GCS generation the record was read at.
	Generation int64 `json:"-"`
}

// PartitionState is the state of one partition.
type PartitionState string

// Partition states.
const (
	PartitionPending PartitionState = "pending"
	PartitionRunning PartitionState = "running"
	PartitionDone    PartitionState = "done"
	PartitionFailed  PartitionState = "failed"
)

// PartitionRecord is the record of one partition (partitions/<id>.json).
type PartitionRecord struct {
	ID             string         `json:"id"`
	State          PartitionState `json:"state"`
	Attempts       int            `json:"attempts"`
	JobID          string         `json:"job_id,omitempty"`
	BytesProcessed int64          `json:"bytes_processed,omitempty"`
	Rows           int64          `json:"rows"`
	Duration       time.Duration  `json:"duration_ns,omitempty"`
	Error          string         `json:"error,omitempty"`
	UpdatedAt      time.Time      `json:"updated_at"`

	Generation int64 `json:"-"`
}

// SwapStep is the record of one completion step (swap/<name>.json).
type SwapStep struct {
	Name  string    `json:"name"`
	Done  bool      `json:"done"`
	JobID string    `json:"job_id,omitempty"`
	At    time.Time `json:"at,omitzero"`
	Error string    `json:"error,omitempty"`

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

func backfillPrefix(id string) (string, error) {
	if id == "" || strings.Contains(id, "..") || strings.Contains(id, "//") || strings.HasPrefix(id, "/") || strings.HasSuffix(id, "/") {
		return "", fmt.Errorf("ledger: invalid backfill id %q", id)
	}
	return root + id + "/", nil
}

func childName(id, dir, name string) (string, error) {
	p, err := backfillPrefix(id)
	if err != nil {
		return "", err
	}
	if name == "" || strings.ContainsAny(name, "/\\") || strings.Contains(name, "..") {
		return "", fmt.Errorf("ledger: invalid %s name %q", strings.TrimSuffix(dir, "s"), name)
	}
	return p + dir + "/" + name + ".json", nil
}

func (s *Store) obj(name string) *storage.ObjectHandle { return s.client.Bucket(s.bucket).Object(name) }

// read returns an object's content and generation.
func (s *Store) read(ctx context.Context, name string) ([]byte, int64, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
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
		sleep := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(sleep):
		}
		if backoff < 500*time.Millisecond {
			backoff *= 2
		}
	}
	return 0, fmt.Errorf("update gs://%s/%s: %w", s.bucket, name, ErrConflict)
}

// Create records a new backfill, with its spec; ErrExists if it is already
// recorded (another scanner won; it wrote the same spec).
func (s *Store) Create(ctx context.Context, b *Backfill) error {
	p, err := backfillPrefix(b.ID)
	if err != nil {
		return err
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

// ReplaceSpec writes a backfill's spec.json. Create calls it; the pipeline
// calls it directly only for a record no worker reads (a rejected entry
// fixed in place), and then sets SpecHash with SpecHashOf.
func (s *Store) ReplaceSpec(ctx context.Context, id string, raw json.RawMessage) error {
	p, err := backfillPrefix(id)
	if err != nil {
		return err
	}
	name := p + "spec.json"
	w := s.obj(name).NewWriter(ctx)
	w.ContentType = "application/json"
	w.ChunkSize = 0
	if _, err := w.Write(raw); err != nil {
		w.Close()
		return fmt.Errorf("write gs://%s/%s: %w", s.bucket, name, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write gs://%s/%s: %w", s.bucket, name, err)
	}
	return nil
}

// SpecHashOf is the SpecHash of a spec's content.
func SpecHashOf(raw json.RawMessage) string { return specHash(raw) }

// Spec reads a backfill's spec.json; ErrNotFound if it has none.
func (s *Store) Spec(ctx context.Context, id string) (json.RawMessage, error) {
	p, err := backfillPrefix(id)
	if err != nil {
		return nil, err
	}
	data, _, err := s.read(ctx, p+"spec.json")
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
			if !CanTransition(from, b.State) {
				return fmt.Errorf("ledger: %s cannot go from %s to %s", id, from, b.State)
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
	names, err := s.names(ctx, root, func(n string) bool { return strings.HasSuffix(n, "/backfill.json") })
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

// each runs f(0..n-1) with bounded concurrency and returns the first error.
func (s *Store) each(ctx context.Context, n int, f func(i int) error) error {
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := 0; i < n; i++ {
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
	p, err := backfillPrefix(id)
	if err != nil {
		return nil, err
	}
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
			return nil, fmt.Errorf("list gs://%s/%s: %w", s.bucket, prefix, err)
		}
		if !strings.HasSuffix(a.Name, ".json") {
			continue
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
			return nil, err
		}
		out[pid] = r.State
	}
	return out, nil
}

// Summary counts a backfill's partition records by state.
type Summary struct {
	Counts map[PartitionState]int
	Failed []string // ids of failed partitions
}

// PartitionSummary counts the partition records of a backfill.
func (s *Store) PartitionSummary(ctx context.Context, id string) (Summary, error) {
	recs, err := s.ListPartitions(ctx, id)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{Counts: map[PartitionState]int{}}
	for _, r := range recs {
		sum.Counts[r.State]++
		if r.State == PartitionFailed {
			sum.Failed = append(sum.Failed, r.ID)
		}
	}
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
	var out []*SwapStep
	for _, n := range names {
		st, err := s.GetSwapStep(ctx, id, strings.TrimSuffix(path.Base(n), ".json"))
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}
