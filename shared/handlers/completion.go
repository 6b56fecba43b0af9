package handlers

import (
	"context"
	"log/slog"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/bqbackfill/bqbackfill/shared/eventdata"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
)

// Completion completes backfills on completion requests.
type Completion struct {
	pipeline *pipeline.Pipeline
	logger   *slog.Logger
}

// NewCompletion returns a completion handler.
func NewCompletion(p *pipeline.Pipeline, logger *slog.Logger) *Completion {
	return &Completion{pipeline: p, logger: logger}
}

// Handle decodes a completion request and completes the backfill. A
// malformed request is logged and acknowledged; a transient failure is
// returned so Pub/Sub redelivers the request and the completion resumes.
func (h *Completion) Handle(ctx context.Context, e event.Event) error {
	msg, err := eventdata.DecodePubSub(e)
	if err != nil {
		h.logger.Error("malformed completion event; dropping", "error", err.Error())
		return nil
	}
	req, err := pipeline.DecodeCompleteRequest(msg.Data)
	if err != nil {
		h.logger.Error("malformed completion request; dropping", "error", err.Error())
		return nil
	}
	if err := h.pipeline.Complete(ctx, req.BackfillID); err != nil {
		h.logger.Error("completion interrupted; will resume on redelivery", "backfill_id", req.BackfillID, "error", err.Error())
		return err
	}
	return nil
}
