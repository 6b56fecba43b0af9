// Package logging makes log/slog write JSON lines that Cloud Logging reads:
// "severity" (DEBUG, INFO, WARNING, ERROR), "message", "time", the record's
// attributes as fields, and the attributes that identify a backfill
// (backfill_id, table, partition, component) repeated as entry labels under
// "logging.googleapis.com/labels", so Console filters and log-based metrics
// can use them.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// LabelKeys are the attributes also sent as Cloud Logging labels.
var LabelKeys = []string{"backfill_id", "table", "partition", "component"}

const labelsKey = "logging.googleapis.com/labels"

// New returns a logger writing Cloud Logging JSON lines to w.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: replace})
	return slog.New(&handler{inner: h})
}

// ParseLevel reads DEBUG, INFO, WARNING (or WARN) and ERROR, in any case;
// anything else is INFO.
func ParseLevel(s string) slog.Level {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "DEBUG":
		return slog.LevelDebug
	case "WARNING", "WARN":
		return slog.LevelWarn
	case "ERROR":
		return slog.LevelError
	}
	return slog.LevelInfo
}

func replace(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.LevelKey:
		return slog.String("severity", severity(a.Value.Any().(slog.Level)))
	case slog.MessageKey:
		a.Key = "message"
	}
	return a
}

func severity(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	}
	return "DEBUG"
}

// handler copies label attributes into the labels object.
type handler struct {
	inner  slog.Handler
	labels map[string]string // from WithAttrs
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	labels := map[string]string{}
	for k, v := range h.labels {
		labels[k] = v
	}
	r.Attrs(func(a slog.Attr) bool {
		if isLabel(a.Key) {
			labels[a.Key] = fmt.Sprint(a.Value.Any())
		}
		return true
	})
	if len(labels) > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Any(labelsKey, labels))
	}
	return h.inner.Handle(ctx, r)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	labels := map[string]string{}
	for k, v := range h.labels {
		labels[k] = v
	}
	for _, a := range attrs {
		if isLabel(a.Key) {
			labels[a.Key] = fmt.Sprint(a.Value.Any())
		}
	}
	return &handler{inner: h.inner.WithAttrs(attrs), labels: labels}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{inner: h.inner.WithGroup(name), labels: h.labels}
}

func isLabel(k string) bool {
	for _, l := range LabelKeys {
		if k == l {
			return true
		}
	}
	return false
}
