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
// A partition record's state, error kind and number of warnings are also
// kept in its object's metadata, so PartitionStates and PartitionSummary
// need one listing and no reads (a record an earlier version wrote without
// them is read).
//
// Every upload also carries a random write id in its metadata. A write whose
// response is lost may have landed; its retry then fails its own
// precondition (412). Reading the object back and finding our write id
// tells "my write landed" from "another writer got in first", so a start is
// not taken for a lost race and a compare-and-swap that moved a state
// reports that it did (see write).
//
// Files: state.go (states, transitions, failure kinds), backfill.go (the
// backfill record, its spec, Transition), partitions.go, swap.go, and this
// file (object names, conditional reads and writes, the CAS loop).
package ledger

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/bqbackfill/bqbackfill/shared/backoff"
)

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
			if err := backoff.Sleep(ctx, time.Duration(attempt)*time.Millisecond); err != nil {
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

// write uploads data; gen 0 means "must not exist", otherwise the object's
// generation must equal gen. It returns the new generation, or a
// precondition error when another writer got in first.
//
// The upload is one request (ChunkSize 0), which the storage client does
// not retry. An error may still hide a write that landed (the response was
// lost), so after any error the object is read back: carrying this write's
// id, it is ours. Otherwise a transient error is retried with the same
// write id and precondition, so an earlier attempt that lands late is
// recognised by the next one's 412.
func (s *Store) write(ctx context.Context, name string, gen int64, data []byte, meta map[string]string) (int64, error) {
	cond := storage.Conditions{DoesNotExist: true}
	if gen != 0 {
		cond = storage.Conditions{GenerationMatch: gen}
	}
	wid := crand.Text()
	m := make(map[string]string, len(meta)+1)
	maps.Copy(m, meta)
	m[writeIDKey] = wid
	var err error
	for attempt := 1; ; attempt++ {
		var g int64
		g, err = s.upload(ctx, name, cond, data, m)
		if err == nil {
			return g, nil
		}
		if !isPrecondition(err) && !storage.ShouldRetry(err) {
			return 0, err
		}
		if g, ok := s.landed(ctx, name, wid); ok {
			return g, nil
		}
		if isPrecondition(err) || attempt >= writeAttempts {
			return 0, err
		}
		if serr := backoff.Sleep(ctx, writeBackoff.Delay(attempt)); serr != nil {
			return 0, fmt.Errorf("%w (after %v)", serr, err)
		}
	}
}

// writeAttempts bounds the attempts of one write that fails transiently.
const writeAttempts = 5

// writeBackoff spaces the attempts of one write; casBackoff spaces the
// read-modify-write rounds of an update that lost a race.
var (
	writeBackoff = backoff.Policy{Initial: 10 * time.Millisecond}
	casBackoff   = backoff.Policy{Initial: 5 * time.Millisecond, Max: 500 * time.Millisecond, Jitter: true}
)

// upload is one conditional upload.
func (s *Store) upload(ctx context.Context, name string, cond storage.Conditions, data []byte, meta map[string]string) (int64, error) {
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

// writeIDKey is the object metadata key of the write id (see the package
// comment).
const writeIDKey = "bqbackfill-write-id"

// landed reports whether the object's current version is the write with id
// wid, and its generation. A failed read answers no: the caller then treats
// the write as having lost a race, which is the safe reading (it re-reads
// and retries, or reports that another writer acts).
func (s *Store) landed(ctx context.Context, name, wid string) (int64, bool) {
	a, err := s.obj(name).Attrs(ctx)
	if err != nil || a.Metadata[writeIDKey] != wid {
		return 0, false
	}
	return a.Generation, true
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
		if err := backoff.Sleep(ctx, casBackoff.Delay(i+1)); err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("update gs://%s/%s: %w", s.bucket, name, ErrConflict)
}

func (s *Store) names(ctx context.Context, prefix string, keep func(string) bool) ([]string, error) {
	return s.namesBy(ctx, prefix, "", func(a *storage.ObjectAttrs) (string, bool) { return a.Name, keep(a.Name) })
}

// namesBy lists prefix, only the names matching glob when it is not ""
// (Cloud Storage's matchGlob), and returns, sorted, what keep makes of each
// object it keeps (it sees the metadata the listing returns).
func (s *Store) namesBy(ctx context.Context, prefix, glob string, keep func(*storage.ObjectAttrs) (string, bool)) ([]string, error) {
	it := s.client.Bucket(s.bucket).Objects(ctx, &storage.Query{Prefix: prefix, MatchGlob: glob})
	var names []string
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list gs://%s/%s: %w", s.bucket, prefix, err)
		}
		if n, ok := keep(a); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// readEach reads n records with get, 16 at a time, in order, leaving out
// those deleted since they were listed (ErrNotFound).
func readEach[T any](ctx context.Context, s *Store, n int, get func(i int) (*T, error)) ([]*T, error) {
	out := make([]*T, n)
	err := s.each(ctx, n, func(i int) error {
		r, err := get(i)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		out[i] = r
		return err
	})
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(out, func(r *T) bool { return r == nil }), nil
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
