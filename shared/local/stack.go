package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/bqbackfill/bqbackfill/shared/checks"
	"github.com/bqbackfill/bqbackfill/shared/eventdata"
	"github.com/bqbackfill/bqbackfill/shared/handlers"
	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/notify"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/queue"
	"github.com/bqbackfill/bqbackfill/shared/script"
	"github.com/bqbackfill/bqbackfill/shared/treescan"
	"github.com/bqbackfill/bqbackfill/shared/treestore"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/duckdb"
)

// Names of the local stack's resources; they mirror cloudenv.Defaults.
const (
	Project            = "local-project"
	SQLBucket          = "bqbackfill-sql"
	LedgerBucket       = "bqbackfill-ledger"
	TopicPartitions    = "backfill-partitions"
	TopicComplete      = "backfill-complete"
	TopicEvents        = "backfill-events"
	TopicDeadLetter    = "backfill-dead-letter"
	SubPartitions      = "backfill-partitions-worker"
	SubComplete        = "backfill-complete-local"
	SubEvents          = "backfill-events-local"
	SubDeadLetter      = "backfill-dead-letter-local"
	maxDeliveries      = 5
	defaultParallelism = 8
)

// Options configure the embedded stack.
type Options struct {
	// StateDir keeps the warehouse and the buckets between runs; "" keeps
	// everything in memory (tests, benchmarks).
	StateDir string
	// Parallelism is the number of concurrent worker tasks [8].
	Parallelism int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Events receives the rendered notifications (io.Discard when nil).
	Events io.Writer
	// Logger receives the components' logs (discarded when nil).
	Logger *slog.Logger
	// Warehouse replaces the DuckDB warehouse (fault injection in tests).
	Warehouse func(warehouse.Warehouse) warehouse.Warehouse
	// Ledger wraps the ledger (fault injection in tests).
	Ledger func(pipeline.Ledger) pipeline.Ledger
	// IdleTimeout ends a worker task once the subscription stayed empty this long [300ms].
	IdleTimeout time.Duration
	// Retry overrides the pipeline's in-process retry policy.
	Retry pipeline.Retry
	// Receiver wraps each worker task's subscription (benchmarks hold a
	// virtual clock while a task handles a message).
	Receiver func(pipeline.Receiver) pipeline.Receiver
	// ReadOnly opens an existing StateDir for reading only (status, sql
	// on a read-only directory): nothing is created, the directory locks
	// are shared (readers coexist; a writer excludes them), the warehouse
	// is attached READ_ONLY, and anything that writes fails.
	ReadOnly bool
}

// Stack is the whole system in one process: fake GCS (files under the
// state directory), pstest Pub/Sub, DuckDB, the same pipeline, handlers and
// clients as production, and goroutines for the job's tasks.
type Stack struct {
	opts       Options
	GCS        *GCS
	PubSub     *PubSub
	DuckDB     *duckdb.Warehouse
	Pipeline   *pipeline.Pipeline
	Trees      *treestore.Trees
	Scanner    *handlers.Scanner
	Completion *handlers.Completion
	Notifier   notify.Notifier
	Ledger     *ledger.Store

	publisher *queue.Publisher
	launcher  *launcher
	logger    *slog.Logger
	ctx       context.Context
	cancel    context.CancelFunc
	closeOnce sync.Once
	closeErr  error
	sql       *sqlEndpoint
}

// Open starts the stack. Close it when done: it holds the state directory.
func Open(ctx context.Context, opts Options) (*Stack, error) {
	if opts.Parallelism < 1 {
		opts.Parallelism = defaultParallelism
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 300 * time.Millisecond
	}
	if opts.Events == nil {
		opts.Events = io.Discard
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Stack{opts: opts, logger: logger}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()

	gcsDir, whDir := "", ""
	if opts.StateDir != "" {
		if !opts.ReadOnly {
			if err := os.MkdirAll(opts.StateDir, 0o755); err != nil {
				return nil, fmt.Errorf("state directory: %w", err)
			}
		}
		gcsDir = filepath.Join(opts.StateDir, "gcs")
		whDir = filepath.Join(opts.StateDir, "warehouse")
	}
	var err error
	if opts.ReadOnly {
		if opts.StateDir == "" {
			return nil, errors.New("a read-only stack needs a state directory")
		}
		// The buckets exist if anything ran here; a missing one reads as
		// empty (bucket-not-found), and nothing may be created.
		s.GCS, err = OpenGCSReadOnly(gcsDir)
	} else {
		s.GCS, err = OpenGCS(gcsDir)
	}
	if err != nil {
		return nil, err
	}
	// Read-only creates nothing: a missing bucket reads as empty.
	if !opts.ReadOnly {
		for _, b := range []string{SQLBucket, LedgerBucket} {
			if err := s.GCS.EnsureBucket(ctx, b); err != nil {
				return nil, err
			}
		}
	}
	if s.PubSub, err = StartPubSub(ctx, Project); err != nil {
		return nil, err
	}
	for _, t := range []string{TopicPartitions, TopicComplete, TopicEvents, TopicDeadLetter} {
		if err := s.PubSub.EnsureTopic(ctx, t); err != nil {
			return nil, err
		}
	}
	subs := []struct {
		name, topic, dlq string
		max              int
	}{
		{SubPartitions, TopicPartitions, TopicDeadLetter, maxDeliveries},
		{SubComplete, TopicComplete, TopicDeadLetter, maxDeliveries},
		{SubEvents, TopicEvents, "", 0},
		{SubDeadLetter, TopicDeadLetter, "", 0},
	}
	for _, sb := range subs {
		if err := s.PubSub.EnsureSubscription(ctx, sb.name, sb.topic, 60*time.Second, sb.dlq, sb.max, false); err != nil {
			return nil, err
		}
	}
	// The warehouse judges table expiration by the stack's clock: with a
	// fixed Now in the past, staging created "30 days from now" must not
	// read as already expired.
	if s.DuckDB, err = duckdb.Open(whDir, &duckdb.Options{Now: opts.Now, ReadOnly: opts.ReadOnly}); err != nil {
		return nil, err
	}
	var wh warehouse.Warehouse = s.DuckDB
	if opts.Warehouse != nil {
		wh = opts.Warehouse(wh)
	}
	if s.sql, err = serveSQL(wh); err != nil {
		return nil, err
	}
	s.Ledger = ledger.New(s.GCS.Client, LedgerBucket)
	var led pipeline.Ledger = s.Ledger
	if opts.Ledger != nil {
		led = opts.Ledger(led)
	}
	s.Trees = treestore.NewTrees(s.GCS.Client, SQLBucket)
	s.publisher = queue.NewPublisher(s.PubSub.Client)
	s.launcher = &launcher{stack: s, slots: make(chan struct{}, opts.Parallelism)}
	s.Pipeline = &pipeline.Pipeline{
		Ledger:    led,
		Warehouse: wh,
		Publisher: s.publisher,
		Topics:    pipeline.Topics{Partitions: TopicPartitions, Complete: TopicComplete, Events: TopicEvents, DeadLetter: TopicDeadLetter},
		Launcher:  s.launcher,
		Trees:     s.Trees,
		Scripts:   &script.Runner{Env: s.sql.Env()},
		Checker:   checks.Gate{Reader: wh},
		Cache:     &pipeline.StateCache{},
		Logger:    logger,
		Now:       opts.Now,
		// Nothing else runs on this state directory (the stack holds its
		// lock): a rollback never waits for a completion in flight.
		Options: pipeline.Options{MaxDeliveries: maxDeliveries, Retry: opts.Retry, CompletionLease: -1},
	}
	s.Scanner = handlers.NewScanner(s.Pipeline, s.Trees, logger)
	s.Scanner.Now = opts.Now
	// One process, many scans: each problem with the tree is logged once.
	s.Scanner.Once = &handlers.Once{}
	s.Completion = handlers.NewCompletion(s.Pipeline, logger)
	s.Notifier = notify.NewLog(opts.Events, nil)
	ok = true
	return s, nil
}

// Close stops the workers and releases the state directory. Calling it
// again does nothing.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Stack) close() error {
	if s.cancel != nil {
		s.cancel()
	}
	if s.launcher != nil {
		s.launcher.wait()
	}
	if s.publisher != nil {
		s.publisher.Stop()
	}
	if s.sql != nil {
		s.sql.stop()
	}
	var errs []error
	if s.DuckDB != nil {
		errs = append(errs, s.DuckDB.Close())
	}
	if s.PubSub != nil {
		errs = append(errs, s.PubSub.Close())
	}
	if s.GCS != nil {
		errs = append(errs, s.GCS.Close())
	}
	return errors.Join(errs...)
}

// TreeProblemsReported says that the caller has reported the tree's
// unreadable and skipped files itself (local run prints them before it
// runs): the scans do not log them again.
func (s *Stack) TreeProblemsReported() { s.Scanner.Once.TreeReported() }

// Sync uploads the tree under sqlDir to the local sync bucket, as
// `bqbackfill sync` does in production.
func (s *Stack) Sync(ctx context.Context, sqlDir string) (treestore.Manifest, error) {
	return treestore.Sync(ctx, s.GCS.Client, SQLBucket, sqlDir, sqlDir, s.now())
}

func (s *Stack) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

// FireManifest delivers the manifest's object-finalized event to the
// scanner handler, as Eventarc does in production.
func (s *Stack) FireManifest(ctx context.Context) ([]pipeline.Action, error) {
	e, err := s.manifestEvent(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.Scanner.Handle(ctx, e); err != nil {
		return nil, err
	}
	return s.Scanner.Last, nil
}

// Drain waits for the worker tasks, then handles every queued completion
// request (with the completion handler) and every event (printed). It
// returns how many messages it handled.
func (s *Stack) Drain(ctx context.Context) (int, error) {
	if err := s.launcher.waitCtx(ctx); err != nil {
		return 0, err
	}
	n := 0
	idle := s.opts.IdleTimeout
	err := queue.Receive(ctx, s.PubSub.Client, SubComplete, queue.ReceiveOptions{Concurrency: 1, IdleTimeout: idle, ReturnImmediately: true},
		func(ctx context.Context, m queue.Received) queue.Outcome {
			n++
			e, err := eventdata.NewPubSubEvent(fullTopic(TopicComplete), fullSub(SubComplete), eventdata.PubsubMessage{Data: m.Data, Attributes: m.Attributes, MessageID: m.ID, PublishTime: m.PublishTime})
			if err != nil {
				return queue.Ack
			}
			if err := s.Completion.Handle(ctx, e); err != nil {
				return queue.Nack
			}
			return queue.Ack
		})
	if err != nil {
		return n, err
	}
	m, err := s.DrainEvents(ctx)
	return n + m, err
}

// DrainEvents delivers queued events to the notifier (printed locally).
func (s *Stack) DrainEvents(ctx context.Context) (int, error) {
	n := 0
	err := queue.Receive(ctx, s.PubSub.Client, SubEvents, queue.ReceiveOptions{Concurrency: 1, IdleTimeout: s.opts.IdleTimeout, ReturnImmediately: true},
		func(ctx context.Context, m queue.Received) queue.Outcome {
			n++
			ev, err := notify.Decode(m.Data)
			if err != nil {
				s.logger.Error("undecodable event", "error", err.Error())
				return queue.Ack
			}
			if err := s.Notifier.Notify(ctx, ev); err != nil {
				s.logger.Error("notify", "error", err.Error())
			}
			return queue.Ack
		})
	return n, err
}

func fullTopic(t string) string { return "projects/" + Project + "/topics/" + t }
func fullSub(sb string) string  { return "projects/" + Project + "/subscriptions/" + sb }

// Result is the outcome of Run.
type Result struct {
	Actions   []pipeline.Action
	Backfills []*ledger.Backfill // every backfill an action touched, as the ledger has it at the end
}

// Held lists the touched backfills whose completion is held for an
// operator (production half-swapped; see pipeline.HeldError).
func (r Result) Held() []*ledger.Backfill {
	var out []*ledger.Backfill
	for _, b := range r.Backfills {
		if b.State == ledger.StateCompleting && b.HeldForOperator() {
			out = append(out, b)
		}
	}
	return out
}

// Failed lists the touched backfills that ended failed or rejected.
func (r Result) Failed() []*ledger.Backfill {
	var out []*ledger.Backfill
	for _, b := range r.Backfills {
		if b.State == ledger.StateFailed || b.State == ledger.StateRejected {
			out = append(out, b)
		}
	}
	return out
}

// Run syncs the tree, fires the scanner as the manifest event would, then
// lets workers and completion run, and scans again, until nothing is left
// to do. Because pstest keeps no messages between processes, the first scan
// treats every unfinished step as stale and redoes it: a run after a crash
// resumes where the crashed one stopped.
func (s *Stack) Run(ctx context.Context, sqlDir string) (Result, error) {
	return s.RunFiltered(ctx, sqlDir, treescan.Options{})
}

// RunFiltered is Run restricted to some tables, one entry status (one
// phase: Initiate or Complete) and/or a --target.
func (s *Stack) RunFiltered(ctx context.Context, sqlDir string, filter treescan.Options) (Result, error) {
	if _, err := s.Sync(ctx, sqlDir); err != nil {
		return Result{}, err
	}
	s.Scanner.Filter = filter
	defer func() { s.Scanner.Filter = treescan.Options{} }()
	// First scan: resume anything a previous process left half-done.
	resume := *s.Pipeline
	resume.Options.StaleAfter = -1 // stale whatever the clock says
	first := handlers.NewScanner(&resume, s.Trees, s.logger)
	first.Now = s.opts.Now
	first.Filter = filter
	first.Once = s.Scanner.Once
	e, err := s.manifestEvent(ctx)
	if err != nil {
		return Result{}, err
	}
	if err := first.Handle(ctx, e); err != nil {
		return Result{}, err
	}
	var all []pipeline.Action
	for _, a := range first.Last {
		if a.Did != "" || a.Err != nil || a.Warning != "" {
			all = append(all, a)
		}
	}
	for round := 0; ; round++ {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		handled, err := s.Drain(ctx)
		if err != nil {
			return Result{}, err
		}
		// Every task has exited. Messages nacked meanwhile are withheld for
		// the subscription's retry backoff, as on Google Cloud; nothing else
		// can happen before the first is released, so skip to it rather than
		// sit it out (the backoff protects BigQuery's rate limits, which
		// DuckDB does not have).
		if s.launcher.idle() {
			s.PubSub.SkipBackoff()
		}
		actions, err := s.Scanner.Scan(ctx)
		if err != nil {
			return Result{}, err
		}
		acted := 0
		for _, a := range actions {
			if a.Did != "" || a.Err != nil {
				all = append(all, a)
				acted++
			} else if a.Warning != "" {
				all = append(all, a) // reported, but no work: the run may settle
			}
		}
		if acted == 0 && handled == 0 && s.launcher.idle() {
			break
		}
		if round > 10000 {
			return Result{}, errors.New("run did not settle after 10000 rounds")
		}
	}
	if _, err := s.DrainEvents(ctx); err != nil {
		return Result{}, err
	}
	res, err := s.result(ctx, all)
	if err != nil {
		return res, err
	}
	if err := s.unfinished(ctx, res); err != nil {
		return res, err
	}
	return res, nil
}

// UnfinishedError reports a run that ended with work still open: a run
// goes on until nothing is left to do, so a backfill still pending,
// staging, processing or completing at its end has lost work the ledger
// could not record (the disk is full, the ledger unwritable). Running
// again resumes it.
type UnfinishedError struct {
	Backfills []string // "<id>: <state>, <done>/<n> partitions done"
}

func (e *UnfinishedError) Error() string {
	return fmt.Sprintf("the run stopped with work left, see the warnings above (a full disk or an unwritable state directory?); free the space and run again to resume: %s",
		strings.Join(e.Backfills, "; "))
}

// unfinished returns an *UnfinishedError if res holds backfills left in a
// working state.
func (s *Stack) unfinished(ctx context.Context, res Result) error {
	var open []string
	for _, b := range res.Backfills {
		switch b.State {
		case ledger.StatePending, ledger.StateStaging, ledger.StateProcessing, ledger.StateCompleting:
		default:
			continue
		}
		if b.HeldForOperator() {
			continue // held for an operator: Result.Held reports it
		}
		line := b.ID + ": " + string(b.State)
		if states, err := s.Ledger.PartitionStates(ctx, b.ID); err == nil {
			done := 0
			for _, st := range states {
				if st == ledger.PartitionDone {
					done++
				}
			}
			line += fmt.Sprintf(", %d/%d partitions done", done, max(b.PartitionCount, len(states)))
		}
		open = append(open, line)
	}
	if len(open) == 0 {
		return nil
	}
	return &UnfinishedError{Backfills: open}
}

// manifestEvent builds the finalize event of the sync bucket's manifest.
func (s *Stack) manifestEvent(ctx context.Context) (event.Event, error) {
	attrs, err := s.GCS.Client.Bucket(SQLBucket).Object(treestore.ManifestObject).Attrs(ctx)
	if err != nil {
		return event.Event{}, fmt.Errorf("read manifest attributes: %w", err)
	}
	return eventdata.NewStorageFinalizedEvent(eventdata.StorageObject{
		Bucket: SQLBucket, Name: treestore.ManifestObject, Generation: attrs.Generation, Size: attrs.Size,
		ContentType: attrs.ContentType, Updated: attrs.Updated,
	})
}

func (s *Stack) result(ctx context.Context, actions []pipeline.Action) (Result, error) {
	seen := map[string]bool{}
	res := Result{Actions: actions}
	var ids []string
	for _, a := range actions {
		if !seen[a.BackfillID] {
			seen[a.BackfillID] = true
			ids = append(ids, a.BackfillID)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		b, err := s.Ledger.Get(ctx, id)
		if err != nil {
			continue
		}
		res.Backfills = append(res.Backfills, b)
	}
	return res, nil
}

// launcher runs worker tasks as goroutines, at most Parallelism at once.
type launcher struct {
	stack *Stack
	slots chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	live  int
}

// Launch starts up to `partitions` tasks (bounded by the free slots; at
// least one when none is running).
func (l *launcher) Launch(ctx context.Context, backfillID string, partitions int) (string, error) {
	n := partitions
	if n > cap(l.slots) {
		n = cap(l.slots)
	}
	if n < 1 {
		n = 1
	}
	started := 0
	for i := 0; i < n; i++ {
		select {
		case l.slots <- struct{}{}:
		default:
			continue // all slots busy: the running tasks will take the messages
		}
		started++
		l.wg.Add(1)
		l.mu.Lock()
		l.live++
		l.mu.Unlock()
		go func() {
			defer func() {
				l.mu.Lock()
				l.live--
				l.mu.Unlock()
				<-l.slots
				l.wg.Done()
			}()
			s := l.stack
			var recv pipeline.Receiver = queue.Subscription{Client: s.PubSub.Client, Name: SubPartitions, Options: queue.ReceiveOptions{Concurrency: 1, IdleTimeout: s.opts.IdleTimeout, ReturnImmediately: true}}
			if s.opts.Receiver != nil {
				recv = s.opts.Receiver(recv)
			}
			if _, err := s.Pipeline.RunTask(s.ctx, recv); err != nil {
				s.logger.Error("worker task", "error", err.Error())
			}
		}()
	}
	return fmt.Sprintf("local-%d-tasks", started), nil
}

// Running reports whether a worker task is running.
func (l *launcher) Running(context.Context) (bool, error) { return !l.idle(), nil }

func (l *launcher) wait() { l.wg.Wait() }

// waitCtx waits for the running tasks, or until ctx ends (the tasks then
// go on until the stack is closed, which cancels them).
func (l *launcher) waitCtx(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *launcher) idle() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.live == 0
}
