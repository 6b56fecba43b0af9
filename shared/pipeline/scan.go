package pipeline

import (
	"cloud.google.com/go/civil"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/notify"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Entry statuses as written in backfill.yaml (normalised).
const (
	StatusInitiate  = "Initiate"
	StatusComplete  = "Complete"
	StatusCancelled = "Cancelled"
)

// Desired is what the tree says about one backfill entry.
type Desired struct {
	Table     warehouse.TableRef
	EntryDate string
	Status    string
	// Hash identifies the entry's content except its status, so that
	// flipping Initiate to Complete is not an edit but changing dates is.
	Hash     string
	Watchers []string
	// Problems are the validation errors of the entry, checked again by the
	// scanner (it does not trust CI), including the checks that depend on
	// the day it starts. A non-empty list rejects an Initiate entry.
	Problems []notify.RuleViolation
	// Plan computes the Spec; called only when the backfill starts. An
	// error is a problem with the entry, reported as a rejection.
	Plan func(ctx context.Context) (*Spec, error)
	// PricePerTiBUSD prices the estimate made at the start; MaxBytes (0:
	// none) refuses a backfill estimated to process more (bqbackfill.yaml).
	PricePerTiBUSD float64
	MaxBytes       int64
}

// ID is the entry's backfill id.
func (d Desired) ID() string { return BackfillID(d.Table, d.EntryDate) }

// Action is what a reconcile did for one backfill.
type Action struct {
	BackfillID string
	Did        Did
	Err        error
	// Warning is a state an operator must act on, reported on every scan
	// (a held completion: see HeldError); "" when none.
	Warning string
}

// Did is what a reconcile did for one backfill.
type Did string

// What a reconcile can do.
const (
	DidNothing             Did = ""
	DidStarted             Did = "started"              // created the record and started it
	DidRejected            Did = "rejected"             // recorded and reported an invalid entry
	DidCompletionRequested Did = "completion-requested" // the entry says Complete: completion requested
	DidCancelled           Did = "cancelled"            // the entry says Cancelled
	DidEdited              Did = "edited"               // reported an entry changed after its start
	DidFinished            Did = "finished"             // every partition final: processed or failed
	DidRepublished         Did = "republished"          // re-sent messages of a step without progress
	DidResumed             Did = "resumed"              // took over an interrupted start
	DidRelaunched          Did = "relaunched"           // started workers for nacked partitions no worker would pull
)

// Scan reconciles every desired entry with the ledger, concurrently, and
// returns what it did. An error on one entry never stops the others.
func (p *Pipeline) Scan(ctx context.Context, desired []Desired) []Action {
	out := make([]Action, len(desired))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range desired {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			did, err := p.Reconcile(ctx, desired[i])
			out[i] = Action{BackfillID: desired[i].ID(), Did: did, Err: err}
			if held := (*HeldError)(nil); errors.As(err, &held) {
				out[i].Err, out[i].Warning = nil, held.Message
			} else if err != nil {
				p.log().Error("reconcile", "backfill_id", desired[i].ID(), "error", err.Error())
			}
		}(i)
	}
	wg.Wait()
	sort.SliceStable(out, func(i, j int) bool { return out[i].BackfillID < out[j].BackfillID })
	return out
}

// Reconcile compares one entry with its ledger record and takes the next
// step. It is idempotent: a second call with nothing changed does nothing.
// A completion held for an operator returns a *HeldError.
func (p *Pipeline) Reconcile(ctx context.Context, d Desired) (Did, error) {
	id := d.ID()
	bf, err := p.Ledger.Get(ctx, id)
	if errors.Is(err, ledger.ErrNotFound) {
		if d.Status != StatusInitiate {
			// History, or a backfill this system did not start.
			return DidNothing, nil
		}
		return p.begin(ctx, d)
	}
	if err != nil {
		return DidNothing, fmt.Errorf("read ledger for %s: %w", id, err)
	}

	if bf.State == ledger.StateRejected {
		if d.Status != StatusInitiate || (bf.EntryHash == d.Hash && len(d.Problems) > 0) {
			return DidNothing, nil
		}
		// The entry was fixed in place, or what made it invalid was (a
		// second Initiate entry removed, metadata fixed): try again.
		return p.begin(ctx, d)
	}

	did := DidNothing
	if bf.EntryHash != d.Hash && bf.State != ledger.StateCompleted && bf.State != ledger.StateCancelled {
		if reported, err := p.reportOnce(ctx, bf, "edited:"+d.Hash, func(spec *Spec) notify.Event {
			e := baseEvent(spec, notify.KindEdited)
			e.Text = "The entry changed after the backfill started; the change is not applied. Create a new entry to change a running backfill."
			return e
		}); err != nil {
			return DidNothing, err
		} else if reported {
			did = DidEdited
		}
	}

	if bf.State == ledger.StateCompleting {
		if err := p.holdCompletion(ctx, bf, d); err != nil {
			return did, err
		}
	}

	if d.Status == StatusCancelled {
		if err := p.holdStoppedSwap(ctx, bf); err != nil {
			return did, err
		}
		if slices.Contains(cancellable, bf.State) {
			return p.cancel(ctx, bf)
		}
		return did, nil
	}

	stale := sinceOrZero(p.now(), bf.UpdatedAt) >= p.opts().StaleAfter
	switch bf.State {
	case ledger.StatePending, ledger.StateStaging:
		// A fresh record is being started by the scanner that created it
		// (or by retry); only an interrupted start is taken over.
		if stale {
			claimed, err := p.claimStart(ctx, id, true)
			if err != nil {
				return did, err
			}
			if claimed {
				return DidResumed, nil
			}
		}
	case ledger.StateProcessing:
		finished, err := p.Finish(ctx, id)
		if err != nil {
			return did, err
		}
		if finished {
			return DidFinished, nil
		}
		if stale {
			n, err := p.republish(ctx, bf)
			if err != nil {
				return did, err
			}
			if n > 0 {
				return DidRepublished, nil
			}
		}
		relaunched, err := p.relaunch(ctx, bf)
		if err != nil {
			return did, err
		}
		if relaunched {
			return DidRelaunched, nil
		}
	case ledger.StateProcessed:
		if d.Status == StatusComplete {
			return p.requestCompletion(ctx, bf)
		}
	case ledger.StateCompleting:
		if stale {
			if err := p.Publisher.Publish(ctx, p.Topics.Complete, completeMessage(id)); err != nil {
				return did, fmt.Errorf("re-publish completion request for %s: %w", id, err)
			}
			p.touch(ctx, id)
			return DidRepublished, nil
		}
	}
	return did, nil
}

// begin creates the ledger record of a new entry (exactly once across
// concurrent scanners) and starts it, or records and reports its rejection.
func (p *Pipeline) begin(ctx context.Context, d Desired) (Did, error) {
	id := d.ID()
	problems := d.Problems
	var spec *Spec
	if len(problems) == 0 {
		var err error
		spec, err = d.Plan(ctx)
		if err != nil {
			problems = append(problems, notify.RuleViolation{Rule: "PLAN", Message: err.Error()})
		} else {
			problems = append(problems, p.estimate(ctx, spec, d.PricePerTiBUSD, d.MaxBytes)...)
		}
	}
	if spec == nil {
		// A rejected entry: its spec names it for the notifications.
		date, _ := civil.ParseDate(d.EntryDate)
		spec = &Spec{Plan: backfill.Plan{Table: d.Table, EntryDate: date, Watchers: d.Watchers}}
	}
	raw, err := encodeSpec(spec)
	if err != nil {
		return DidNothing, err
	}
	now := p.now()
	// The creator of the record owns the start, so the record is created
	// claimed (staging): a start writes backfill.json twice, here and when
	// it moves to processing.
	state := ledger.StateStaging
	lastErr := ""
	if len(problems) > 0 {
		state = ledger.StateRejected
		var msgs []string
		for _, pr := range problems {
			msgs = append(msgs, pr.Rule+": "+pr.Message)
		}
		lastErr = strings.Join(msgs, "; ")
	}
	rec := &ledger.Backfill{
		ID: id, Table: d.Table.String(), EntryDate: d.EntryDate,
		State: state, EntryHash: d.Hash, Spec: raw, Watchers: d.Watchers,
		PartitionCount: len(spec.Partitions),
		CreatedAt:      now, UpdatedAt: now, LastError: lastErr,
	}
	if !spec.Staging.IsZero() {
		rec.Staging, rec.Backup = spec.Staging.String(), spec.Backup.String()
	}
	existing, err := p.Ledger.Get(ctx, id)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		if err := p.Ledger.Create(ctx, rec); err != nil {
			if errors.Is(err, ledger.ErrExists) {
				return DidNothing, nil // another scanner won the race and acts
			}
			return DidNothing, fmt.Errorf("create ledger record %s: %w", id, err)
		}
	case err != nil:
		return DidNothing, fmt.Errorf("read ledger for %s: %w", id, err)
	default:
		// A rejected record whose entry was edited: replace it, once. No
		// worker reads a rejected record's spec, so it can be rewritten.
		if existing.State != ledger.StateRejected || (existing.EntryHash == d.Hash && state == ledger.StateRejected) {
			return DidNothing, nil // still rejected for the same entry: reported already
		}
		if err := p.Ledger.ReplaceSpec(ctx, id, raw); err != nil {
			return DidNothing, fmt.Errorf("update ledger record %s: %w", id, err)
		}
		rec.SpecHash = ledger.SpecHashOf(raw)
		rec.Spec = nil
		moved, err := p.Ledger.Transition(ctx, id, []ledger.State{ledger.StateRejected}, state, func(b *ledger.Backfill) error {
			if b.EntryHash == d.Hash && state == ledger.StateRejected {
				return ledger.ErrNoChange
			}
			gen := b.Generation
			*b = *rec
			b.Generation = gen
			b.CreatedAt = existing.CreatedAt
			return nil
		})
		if err != nil {
			return DidNothing, fmt.Errorf("update ledger record %s: %w", id, err)
		}
		if !moved {
			return DidNothing, nil
		}
	}
	if state == ledger.StateRejected {
		e := baseEvent(spec, notify.KindRejected)
		e.Errors = problems
		p.emit(ctx, e)
		p.log().Warn("backfill entry rejected", "backfill_id", id, "errors", lastErr)
		return DidRejected, nil
	}
	if err := p.prepare(ctx, rec, spec, now); err != nil {
		return DidNothing, err
	}
	return DidStarted, nil
}

func (p *Pipeline) requestCompletion(ctx context.Context, bf *ledger.Backfill) (Did, error) {
	now := p.now()
	moved, err := p.Ledger.Transition(ctx, bf.ID, []ledger.State{ledger.StateProcessed}, ledger.StateCompleting, func(b *ledger.Backfill) error {
		b.CompletionRequestedAt = now
		b.UpdatedAt = now
		return nil
	})
	if err != nil {
		return DidNothing, fmt.Errorf("request completion of %s: %w", bf.ID, err)
	}
	if !moved {
		return DidNothing, nil
	}
	if err := p.Publisher.Publish(ctx, p.Topics.Complete, completeMessage(bf.ID)); err != nil {
		// The record says completing; the stale check re-publishes.
		return DidNothing, fmt.Errorf("publish completion request for %s: %w", bf.ID, err)
	}
	if spec, err := p.spec(ctx, bf); err == nil {
		p.emit(ctx, baseEvent(spec, notify.KindCompleting))
	}
	return DidCompletionRequested, nil
}

// cancellable are the states an entry set to Cancelled stops.
var cancellable = []ledger.State{ledger.StatePending, ledger.StateStaging, ledger.StateProcessing, ledger.StateProcessed, ledger.StateFailed}

func (p *Pipeline) cancel(ctx context.Context, bf *ledger.Backfill) (Did, error) {
	moved, err := p.Ledger.Transition(ctx, bf.ID, cancellable, ledger.StateCancelled, func(b *ledger.Backfill) error {
		b.UpdatedAt = p.now()
		return nil
	})
	if err != nil {
		return DidNothing, fmt.Errorf("cancel %s: %w", bf.ID, err)
	}
	if !moved {
		return DidNothing, nil
	}
	if spec, err := p.spec(ctx, bf); err == nil {
		e := baseEvent(spec, notify.KindCancelled)
		e.Text = "The staging table is kept until it expires (30 days after the start); production was not changed."
		p.emit(ctx, e)
	}
	return DidCancelled, nil
}

// republish re-sends the messages of partitions that are not final after
// StaleAfter without progress: their messages were lost, or every worker
// died. Redelivery is harmless (done partitions are skipped).
func (p *Pipeline) republish(ctx context.Context, bf *ledger.Backfill) (int, error) {
	spec, err := p.spec(ctx, bf)
	if err != nil {
		return 0, err
	}
	states, last, err := p.Ledger.PartitionProgress(ctx, bf.ID)
	if err != nil {
		return 0, fmt.Errorf("list partitions of %s: %w", bf.ID, err)
	}
	// Workers that are still finishing partitions are progress: only a
	// backfill with no partition recorded for StaleAfter lost its messages
	// (or every worker).
	if !last.IsZero() && time.Since(last) < p.opts().StaleAfter { // object times are real time, not p.Now
		return 0, nil
	}
	final := 0
	for _, st := range states {
		if st == ledger.PartitionDone || st == ledger.PartitionFailed {
			final++
		}
	}
	if final == len(spec.Partitions) {
		return 0, nil
	}
	if err := p.publishPending(ctx, spec, states, true); err != nil {
		return 0, fmt.Errorf("re-publish %s: %w", bf.ID, err)
	}
	p.log().Warn("re-published partitions without progress", "backfill_id", bf.ID, "pending", len(spec.Partitions)-final)
	return len(spec.Partitions) - final, nil
}

// relaunch starts worker capacity for the partitions whose messages wait
// in the subscription, when none is running. A nacked partition (recorded
// pending) is withheld by Pub/Sub for the retry backoff, 30 s to 600 s,
// longer than a worker task waits idle: without this, every task could
// exit while the message waits, and the partition would wait for the
// stale re-publish. It writes nothing, so it never looks like progress.
func (p *Pipeline) relaunch(ctx context.Context, bf *ledger.Backfill) (bool, error) {
	if p.Launcher == nil {
		return false, nil
	}
	states, err := p.Ledger.PartitionStates(ctx, bf.ID)
	if err != nil {
		return false, fmt.Errorf("list partitions of %s: %w", bf.ID, err)
	}
	waiting := 0
	for _, st := range states {
		if st == ledger.PartitionPending {
			waiting++
		}
	}
	if waiting == 0 {
		return false, nil
	}
	running, err := p.Launcher.Running(ctx)
	if err != nil {
		return false, fmt.Errorf("workers of %s: %w", bf.ID, err)
	}
	if running {
		return false, nil
	}
	exec, err := p.Launcher.Launch(ctx, bf.ID, waiting)
	if err != nil {
		return false, fmt.Errorf("launch workers for %s: %w", bf.ID, err)
	}
	p.log().Info("launched workers for waiting partitions", "backfill_id", bf.ID, "waiting", waiting, "execution", exec)
	return true, nil
}

// touch records progress so the stale checks restart their clock.
func (p *Pipeline) touch(ctx context.Context, id string) {
	if _, err := p.Ledger.Update(ctx, id, func(b *ledger.Backfill) error {
		b.UpdatedAt = p.now()
		return nil
	}); err != nil {
		p.log().Warn("touch ledger record", "backfill_id", id, "error", err.Error())
	}
}

// reportOnce emits the event built by mk unless key was reported before.
func (p *Pipeline) reportOnce(ctx context.Context, bf *ledger.Backfill, key string, mk func(*Spec) notify.Event) (bool, error) {
	if _, ok := bf.Reported[key]; ok {
		return false, nil
	}
	spec, err := p.spec(ctx, bf)
	if err != nil {
		return false, err
	}
	first := false
	now := p.now()
	if _, err := p.Ledger.Update(ctx, bf.ID, func(b *ledger.Backfill) error {
		first = false // fn runs again when the compare-and-swap loses a race
		if _, ok := b.Reported[key]; ok {
			return ledger.ErrNoChange
		}
		if b.Reported == nil {
			b.Reported = map[string]time.Time{}
		}
		b.Reported[key] = now
		first = true
		return nil
	}); err != nil && !errors.Is(err, ledger.ErrNoChange) {
		return false, fmt.Errorf("record report %s of %s: %w", key, bf.ID, err)
	}
	if first {
		p.emit(ctx, mk(spec))
	}
	return first, nil
}
