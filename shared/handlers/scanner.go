// Package handlers holds the CloudEvent handlers of the deployed functions
// (scanner, completion and notifier), so that the functions in functions/ only
// register them and local mode drives exactly the same code with events it
// builds itself.
package handlers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/bqbackfill/bqbackfill/shared/config"
	"github.com/bqbackfill/bqbackfill/shared/eventdata"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/treescan"
	"github.com/bqbackfill/bqbackfill/shared/treestore"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// TreeReader reads the current synced tree (treestore.Trees implements it).
type TreeReader interface {
	Current(ctx context.Context) (fs.FS, treestore.Manifest, error)
}

// Scanner reconciles the synced tree with the ledger on each event.
type Scanner struct {
	pipeline *pipeline.Pipeline
	trees    TreeReader
	logger   *slog.Logger
	// Now is the clock (time.Now when nil); "today" is its UTC date.
	Now func() time.Time
	// Filter restricts scans (tables, status, target); Now and Tree are
	// filled in by each scan. The zero value scans everything.
	Filter treescan.Options
	// Last holds the actions of the most recent scan (for local mode's summary).
	Last []pipeline.Action
	// Once, when set, logs each distinct problem with the tree (a file that
	// cannot be read, a file the sync skipped) once across the scans that
	// share it: local mode scans many times in one process and reports
	// them before it runs. Nil logs them on every scan, as a deployed
	// scanner does (each scan is its own report).
	Once *Once
}

// Once remembers which messages were logged; safe for concurrent use.
type Once struct {
	mu   sync.Mutex
	seen map[string]bool
	// treeReported: the caller reported the tree's problems itself.
	treeReported bool
}

// TreeReported says that the caller has reported the tree's problems
// itself (local run prints every unreadable or skipped file before it
// runs, as validate does): the scanners sharing o do not log them again,
// so each is said once. Warnings about backfills are still logged.
func (o *Once) TreeReported() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.treeReported = true
}

// tree is first for a problem with the tree.
func (o *Once) tree(key string) bool {
	if o != nil {
		o.mu.Lock()
		quiet := o.treeReported
		o.mu.Unlock()
		if quiet {
			return false
		}
	}
	return o.first(key)
}

// first reports whether key is new, and remembers it.
func (o *Once) first(key string) bool {
	if o == nil {
		return true
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen[key] {
		return false
	}
	if o.seen == nil {
		o.seen = map[string]bool{}
	}
	o.seen[key] = true
	return true
}

// NewScanner returns a scanner handler.
func NewScanner(p *pipeline.Pipeline, trees TreeReader, logger *slog.Logger) *Scanner {
	return &Scanner{pipeline: p, trees: trees, logger: logger}
}

// Handle reacts to the manifest's finalize event or to a scheduler tick
// (a Pub/Sub message). Other objects of the bucket are ignored. Per-entry
// errors are logged and left to the next tick (a scan is idempotent); only a
// failure to read the tree is returned, so the event is retried.
func (h *Scanner) Handle(ctx context.Context, e event.Event) error {
	switch e.Type() {
	case eventdata.TypeStorageFinalized:
		obj, err := eventdata.DecodeStorageObject(e)
		if err != nil {
			h.logger.Error("malformed storage event; ignoring", "error", err.Error())
			return nil
		}
		if obj.Name != treestore.ManifestObject {
			return nil
		}
	case eventdata.TypePubSubPublished, eventdata.TypePubSubLegacy:
		// A scheduler tick: scan everything.
	default:
		h.logger.Warn("unexpected event type; ignoring", "type", e.Type())
		return nil
	}
	actions, err := h.Scan(ctx)
	h.Last = actions
	return err
}

// treeUnread reports whether the scan could not read the tree as a whole
// (bqbackfill.yaml invalid, the tree unlistable): it then knows no entry,
// and no completing backfill may be taken for one whose entry was removed.
func treeUnread(problems []treescan.Problem) bool {
	for _, pr := range problems {
		if pr.Table == "" && (pr.File == "" || pr.File == config.FileName) {
			return true
		}
	}
	return false
}

// Scan reads the current tree and reconciles it; it returns the actions.
func (h *Scanner) Scan(ctx context.Context) ([]pipeline.Action, error) {
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	fsys, m, err := h.trees.Current(ctx)
	if errors.Is(err, treestore.ErrNoManifest) {
		h.logger.Warn("nothing synced yet; nothing to scan")
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read synced tree: %w", err)
	}
	opts := h.Filter
	opts.Now, opts.Tree = now, m.Tree
	desired, problems := treescan.Desired(ctx, fsys, opts)
	for _, pr := range problems {
		if h.Once.tree("unreadable\x00" + pr.Table + "\x00" + pr.File + "\x00" + pr.Message) {
			h.logger.Error("backfill file cannot be read; its table is skipped", "table", pr.Table, "file", pr.File, "error", pr.Message)
		}
	}
	// The sync left these out of the tree (links out of the tree, devices,
	// files over the size limit): the tables they belong to may be missing
	// a file, so say which.
	for _, sk := range m.Skipped {
		if h.Once.tree("skipped\x00" + sk) {
			h.logger.Warn("file not synced; the scanner does not see it", "tree", m.Tree, "skipped", sk)
		}
	}
	actions := h.pipeline.Scan(ctx, desired)
	if opts.Status == "" && !treeUnread(problems) {
		// A completing backfill whose entry was removed is in no desired
		// entry: without this it would go silent half-done.
		unread := map[string]bool{}
		for _, pr := range problems {
			unread[pr.Table] = true
		}
		inScope := func(table string) bool {
			if unread[table] {
				return false
			}
			return len(opts.Tables) == 0 || slices.ContainsFunc(opts.Tables, func(t warehouse.TableRef) bool { return t.String() == table })
		}
		actions = append(actions, h.pipeline.HeldRemoved(ctx, desired, inScope)...)
	}
	acted, failed := 0, 0
	for _, a := range actions {
		if a.Did != "" {
			acted++
			h.logger.Info("reconciled", "backfill_id", a.BackfillID, "did", a.Did)
		}
		if a.Err != nil {
			failed++
		}
		if a.Warning != "" && h.Once.first("warning\x00"+a.BackfillID+"\x00"+a.Warning) {
			h.logger.Warn("backfill needs an operator", "backfill_id", a.BackfillID, "detail", a.Warning)
		}
	}
	h.logger.Info("scan done", "tree", m.Tree, "entries", len(desired), "acted", acted, "errors", failed, "unreadable_files", len(problems), "skipped_files", len(m.Skipped))
	return actions, nil
}
