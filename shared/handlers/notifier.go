package handlers

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/bqbackfill/bqbackfill/shared/eventdata"
	"github.com/bqbackfill/bqbackfill/shared/notify"
)

// DefaultMaxAge is how old an event may be before the notifier drops it
// instead of delivering it: a notification that arrives a day late says
// more about the outage than about the backfill.
const DefaultMaxAge = 24 * time.Hour

// Notifier delivers the backfill events published on the events topic.
type Notifier struct {
	notifier notify.Notifier
	logger   *slog.Logger
	// MaxAge drops events published longer ago than this (they are logged,
	// not delivered); 0 delivers events of any age. NewNotifier sets
	// DefaultMaxAge.
	MaxAge time.Duration
	// Now returns the current time; NewNotifier sets time.Now.
	Now func() time.Time
}

// NewNotifier returns a handler that delivers events with n and logs to
// logger (nil: discard).
func NewNotifier(n notify.Notifier, logger *slog.Logger) *Notifier {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Notifier{notifier: n, logger: logger, MaxAge: DefaultMaxAge, Now: time.Now}
}

// Handle decodes the Pub/Sub CloudEvent and its notify.Event and delivers
// it. A malformed message, an event too old to matter, and a delivery that
// can never succeed are logged and acknowledged (nil); a transient delivery
// failure is returned, so Pub/Sub redelivers the event.
func (h *Notifier) Handle(ctx context.Context, e event.Event) error {
	msg, err := eventdata.DecodePubSub(e)
	if err != nil {
		h.logger.Error("malformed Pub/Sub event; dropping it", "event_id", e.ID(), "error", err.Error())
		return nil
	}
	ev, err := notify.Decode(msg.Data)
	if err != nil {
		h.logger.Error("malformed backfill event; dropping it", "message_id", msg.MessageID,
			"error", err.Error(), "data", truncate(string(msg.Data), 2048))
		return nil
	}
	log := h.logger.With("backfill_id", ev.BackfillID, "kind", string(ev.Kind), "table", ev.Table, "message_id", msg.MessageID)
	if h.MaxAge > 0 && !msg.PublishTime.IsZero() {
		if age := h.now().Sub(msg.PublishTime); age > h.MaxAge {
			log.Error("backfill event too old to deliver; dropping it", "published", msg.PublishTime,
				"age", age.Round(time.Second).String(), "text", notify.Render(ev, notify.RenderOptions{}))
			return nil
		}
	}
	if err := h.notifier.Notify(ctx, ev); err != nil {
		if notify.IsPermanent(err) {
			log.Error("notification cannot be delivered; dropping it", "error", err.Error(),
				"text", notify.Render(ev, notify.RenderOptions{}))
			return nil
		}
		log.Warn("notification failed; Pub/Sub will redeliver it", "error", err.Error())
		return fmt.Errorf("deliver %s event for %s: %w", ev.Kind, ev.Table, err)
	}
	log.Info("notification delivered")
	return nil
}

func (h *Notifier) now() time.Time {
	if h.Now == nil {
		return time.Now()
	}
	return h.Now()
}

// LogEntries returns the writer to give notify.Log (the notifier of a
// deployment without Slack): each Write, one event, becomes one entry of
// logger, so a multi-line message stays one entry in Cloud Logging.
func LogEntries(logger *slog.Logger) io.Writer { return logEntryWriter{logger: logger} }

type logEntryWriter struct{ logger *slog.Logger }

func (w logEntryWriter) Write(p []byte) (int, error) {
	w.logger.Info(strings.TrimRight(string(p), "\n"), "notification", true)
	return len(p), nil
}

// truncate cuts s to at most n bytes without splitting a UTF-8 character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
