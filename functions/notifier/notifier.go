// Package notifier is the notifier function: it receives the backfill events
// published on the events topic (through Eventarc, or a Pub/Sub push
// subscription converted by functions-framework-go) and delivers them with a
// shared/notify Notifier: Slack with a bot token, a Slack incoming webhook,
// or the log when neither is configured.
//
// Deploying it is optional: without it the events stay on the topic and in
// the logs.
package notifier

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
	"github.com/bqbackfill/bqbackfill/shared/eventdata"
	"github.com/bqbackfill/bqbackfill/shared/notify"
)

// EntryPoint is the name the function is registered under (FUNCTION_TARGET).
const EntryPoint = "Notifier"

// DefaultMaxAge is how old an event may be before it is dropped instead of
// delivered: a notification that arrives a day late says more about the
// outage than about the backfill.
const DefaultMaxAge = 24 * time.Hour

func init() {
	functions.CloudEvent(EntryPoint, handle)
}

// deployed is the Handler of the deployed function, built from the
// environment on the first event (never at init).
var deployed lazyHandler

func handle(ctx context.Context, e event.Event) error {
	return deployed.handle(ctx, e, os.LookupEnv, os.Stdout)
}

// lazyHandler builds a Handler once, on first use.
type lazyHandler struct {
	once sync.Once
	h    *Handler
	err  error
}

// handle builds the Handler from lookup on the first call, then handles e.
// A setup failure (a missing or malformed variable) is returned for every
// event, so the events are redelivered once the deployment is fixed.
func (l *lazyHandler) handle(ctx context.Context, e event.Event, lookup func(string) (string, bool), stdout io.Writer) error {
	l.once.Do(func() { l.h, l.err = fromEnv(lookup, stdout) })
	if l.err != nil {
		return fmt.Errorf("notifier setup: %w", l.err)
	}
	return l.h.Handle(ctx, e)
}

// fromEnv builds the deployed Handler: JSON logs on stdout, and the
// Notifier notify.FromEnv picks (Slack, webhook, or log entries).
func fromEnv(lookup func(string) (string, bool), stdout io.Writer) (*Handler, error) {
	env, err := cloudenv.FromEnv(lookup, cloudenv.NotifierNeeds)
	if err != nil {
		return nil, err
	}
	logger := newLogger(stdout, env.LogLevel).With("component", "notifier")
	// The Slack notifier reports watcher lookups that fell back to the local
	// part through the default logger.
	slog.SetDefault(logger)
	n, err := notify.FromEnv(env, logEntryWriter{logger: logger})
	if err != nil {
		return nil, err
	}
	return New(n, logger), nil
}

// Handler delivers backfill events.
type Handler struct {
	notifier notify.Notifier
	logger   *slog.Logger
	// MaxAge drops events published longer ago than this (they are logged,
	// not delivered); 0 delivers events of any age. New sets DefaultMaxAge.
	MaxAge time.Duration
	// Now returns the current time; New sets time.Now.
	Now func() time.Time
}

// New returns a Handler that delivers events with n and logs to logger
// (nil: discard).
func New(n notify.Notifier, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{notifier: n, logger: logger, MaxAge: DefaultMaxAge, Now: time.Now}
}

// Handle decodes the Pub/Sub CloudEvent and its notify.Event and delivers
// it. A malformed message, an event too old to matter, and a delivery that
// can never succeed are logged and acknowledged (nil); a transient delivery
// failure is returned, so Pub/Sub redelivers the event.
func (h *Handler) Handle(ctx context.Context, e event.Event) error {
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

func (h *Handler) now() time.Time {
	if h.Now == nil {
		return time.Now()
	}
	return h.Now()
}

// logEntryWriter turns each Write (notify.Log writes one event per call)
// into one log entry, so a multi-line message stays one entry in Cloud
// Logging.
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
