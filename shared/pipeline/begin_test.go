package pipeline_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/local"
	"github.com/bqbackfill/bqbackfill/shared/notify"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/queue"
	"github.com/bqbackfill/bqbackfill/shared/treescan"
)

// desired is the contract entry as the scanner reads it.
func (e *contractEnv) desired(t *testing.T) pipeline.Desired {
	t.Helper()
	ds, problems := treescan.Desired(e.ctx, tree("Initiate"), treescan.Options{Now: now, Tree: "trees/contract.zip"})
	if len(problems) > 0 || len(ds) != 1 {
		t.Fatalf("desired %+v, problems %+v", ds, problems)
	}
	return ds[0]
}

// TestRejectedEntryFixed: an entry with problems is recorded rejected and
// reported with its problems, once; an entry whose plan fails is rejected
// with the plan's error; an entry fixed in place replaces the rejected
// record and starts.
func TestRejectedEntryFixed(t *testing.T) {
	e := newContractEnv(t)
	good := e.desired(t)
	invalid := good
	invalid.Hash = "invalid"
	invalid.Problems = []notify.RuleViolation{{Rule: "M1", Message: "metadata.yaml: owners is empty"}}
	unplannable := good
	unplannable.Hash = "unplannable"
	unplannable.Plan = func(context.Context) (*pipeline.Spec, error) { return nil, errors.New("query.sql: no such file") }

	steps := []struct {
		name      string
		d         pipeline.Desired
		wantDid   pipeline.Did
		wantState ledger.State
		wantError string
		wantKinds []notify.Kind
	}{
		{"invalid entry", invalid, pipeline.DidRejected, ledger.StateRejected, "M1: metadata.yaml: owners is empty", []notify.Kind{notify.KindRejected}},
		{"same invalid entry again", invalid, pipeline.DidNothing, ledger.StateRejected, "M1: metadata.yaml: owners is empty", nil},
		{"entry whose plan fails", unplannable, pipeline.DidRejected, ledger.StateRejected, "PLAN: query.sql: no such file", []notify.Kind{notify.KindRejected}},
		{"entry fixed", good, pipeline.DidStarted, ledger.StateProcessing, "", []notify.Kind{notify.KindStarted}},
		{"fixed entry again", good, pipeline.DidNothing, ledger.StateProcessing, "", nil},
	}
	for _, st := range steps {
		did, err := e.p.Reconcile(e.ctx, st.d)
		if err != nil || did != st.wantDid {
			t.Fatalf("%s: Reconcile = %q, %v; want %q", st.name, did, err, st.wantDid)
		}
		bf := e.record(t)
		if bf.State != st.wantState || bf.LastError != st.wantError || bf.EntryHash != st.d.Hash {
			t.Errorf("%s: record %s %q hash %q; want %s %q hash %q", st.name, bf.State, bf.LastError, bf.EntryHash, st.wantState, st.wantError, st.d.Hash)
		}
		var kinds []notify.Kind
		for _, ev := range e.events(t) {
			kinds = append(kinds, ev.Kind)
			if ev.Kind == notify.KindRejected && (len(ev.Errors) != 1 || !strings.HasPrefix(st.wantError, ev.Errors[0].Rule+": ")) {
				t.Errorf("%s: rejected event errors %+v, want the entry's problem", st.name, ev.Errors)
			}
		}
		if !slices.Equal(kinds, st.wantKinds) {
			t.Errorf("%s: events %q, want %q", st.name, kinds, st.wantKinds)
		}
	}
	if got := e.work(t); !slices.Equal(got, days) {
		t.Errorf("partitions of the fixed entry %q, want %q", got, days)
	}
}

// TestRunTaskOverPubSub: a worker task takes the partition messages from a
// real subscription (pstest) until it stays empty — for a chain, each
// partition publishes the next — then finishes the backfill it touched; a
// subscription that does not exist is the task's error.
func TestRunTaskOverPubSub(t *testing.T) {
	e := newContractEnv(t)
	ps, err := local.StartPubSub(e.ctx, "proj")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	for _, topic := range []string{"partitions", "complete", "events", "dead-letter"} {
		if err := ps.EnsureTopic(e.ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	if err := ps.EnsureSubscription(e.ctx, "partitions", "partitions", time.Minute, "dead-letter", 5, false); err != nil {
		t.Fatal(err)
	}
	pub := queue.NewPublisher(ps.Client)
	t.Cleanup(pub.Stop)
	e.p.Publisher = pub
	e.scan(t, "Initiate")

	opts := queue.ReceiveOptions{ReturnImmediately: true, IdleTimeout: 300 * time.Millisecond}
	st, err := e.p.RunTask(e.ctx, queue.Subscription{Client: ps.Client, Name: "partitions", Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	if st.Handled != int64(len(days)) || st.Redeliver != 0 || !slices.Equal(st.Finished, []string{contractID}) {
		t.Errorf("task stats %+v, want %d handled, none redelivered, %s finished", st, len(days), contractID)
	}
	if bf := e.record(t); bf.State != ledger.StateProcessed {
		t.Errorf("state %s, want processed", bf.State)
	}
	if got, want := e.fake.PartitionRows(staging), partitionRows(append([]string{seed}, days...)...); !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
		t.Errorf("staging partitions %v, want %v", got, want)
	}

	_, err = e.p.RunTask(e.ctx, queue.Subscription{Client: ps.Client, Name: "no-such-subscription", Options: opts})
	if err == nil || !strings.HasPrefix(err.Error(), "worker task: ") {
		t.Errorf("task on a missing subscription: %v, want the subscription's error", err)
	}
}
