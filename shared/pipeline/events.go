package pipeline

import (
	"context"
	"strings"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/message"
	"github.com/bqbackfill/bqbackfill/shared/notify"
)

func baseEvent(spec *Spec, kind notify.Kind) notify.Event {
	d := spec.EntryDate
	return notify.Event{
		BackfillID:   spec.ID(),
		Kind:         kind,
		Table:        spec.Table.String(),
		EntryDate:    d,
		Watchers:     spec.Watchers,
		StagingTable: spec.Staging.String(),
		BackupTable:  spec.Backup.String(),
		Partitions:   len(spec.Partitions),
	}
}

func eventStarted(spec *Spec) notify.Event {
	e := baseEvent(spec, notify.KindStarted)
	var lines []string
	if spec.Estimate != nil {
		lines = append(lines, EstimateText(spec.Estimate, len(spec.Partitions)))
	}
	if len(spec.Warnings) > 0 {
		lines = append(lines, "Warnings: "+strings.Join(spec.Warnings, "; "))
	}
	e.Text = strings.Join(lines, "\n")
	return e
}

func eventDone(spec *Spec, cmp []notify.PartitionRows, warnings []notify.PartitionWarning) notify.Event {
	e := baseEvent(spec, notify.KindDone)
	e.Comparison = cmp
	e.Warnings = warnings
	return e
}

func eventFailed(spec *Spec, failed []*ledger.PartitionRecord, notRun int) notify.Event {
	e := baseEvent(spec, notify.KindFailed)
	for _, r := range failed {
		e.Failed = append(e.Failed, notify.PartitionFailure{Partition: r.ID, Error: r.Error, Kind: notify.FailureKind(r.ErrorKind)})
	}
	if spec.Sequential && notRun > 0 {
		e.Text = "The partitions depend on each other (depends_on_past), so the chain stopped at the first failure; the later partitions did not run."
	}
	return e
}

func eventRefused(spec *Spec, reason string, swapping bool) notify.Event {
	e := baseEvent(spec, notify.KindFailed)
	e.Text = "Completion refused before anything was changed: " + reason
	if swapping {
		e.Text = "Completion stopped: " + reason
	}
	return e
}

func eventStopped(spec *Spec, reason string) notify.Event {
	e := baseEvent(spec, notify.KindFailed)
	e.Text = "Completion stopped " + strings.TrimPrefix(reason, "completion stopped ")
	return e
}

func eventCompleted(spec *Spec) notify.Event { return baseEvent(spec, notify.KindCompleted) }

// emit publishes an event. Notification is best effort: a failure is
// logged, never fails the step that emitted it.
func (p *Pipeline) emit(ctx context.Context, e notify.Event) {
	e.Time = p.now()
	if p.Topics.Events == "" || p.Publisher == nil {
		return
	}
	data, err := notify.Encode(e)
	if err != nil {
		p.log().Error("encode event", "error", err.Error(), "backfill_id", e.BackfillID)
		return
	}
	if err := p.Publisher.Publish(ctx, p.Topics.Events, message.Message{Data: data, Attributes: e.Attributes()}); err != nil {
		p.log().Error("publish event", "error", err.Error(), "backfill_id", e.BackfillID, "kind", string(e.Kind))
	}
}
