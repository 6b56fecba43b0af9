// Package logging makes log/slog write JSON lines that Cloud Logging reads
// as structured entries:
//
//	{"time":"2026-11-25T21:30:00.123Z","severity":"WARNING","message":"partition failed",
//	 "backfill_id":"p.d.t/2026-11-01","partition":"20261101","rows":3,
//	 "logging.googleapis.com/labels":{"backfill_id":"p.d.t/2026-11-01","component":"worker","partition":"20261101"}}
//
// "severity" is DEBUG, INFO, WARNING or ERROR; "message" is the record's
// message; "time" is RFC 3339. Cloud Logging lifts "severity", "message",
// "time" and "logging.googleapis.com/labels" out of the JSON payload into the
// entry, so Console filters and log-based metrics can use the labels.
//
// Labels come from two kinds of attributes:
//
//   - The well-known keys (LabelKeys: backfill_id, table, partition,
//     component) at the top level stay ordinary fields and are also copied
//     into the labels.
//   - Attributes whose key starts with LabelPrefix ("label:", made by Label)
//     become labels only, under the key without the prefix, at any depth.
//
// With adds labels to a logger; NewContext and FromContext carry a logger in
// a context.Context.
package logging

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
)

// The well-known label keys.
const (
	KeyBackfillID = "backfill_id"
	KeyTable      = "table"
	KeyPartition  = "partition"
	KeyComponent  = "component"
)

// LabelKeys are the top-level attributes that are also sent as labels.
var LabelKeys = []string{KeyBackfillID, KeyTable, KeyPartition, KeyComponent}

// LabelsKey is the field Cloud Logging reads entry labels from.
const LabelsKey = "logging.googleapis.com/labels"

// LabelPrefix marks an attribute that is a label only: "label:execution"
// becomes the label "execution" and no field.
const LabelPrefix = "label:"

// New returns a logger writing one Cloud Logging JSON line per record to w,
// dropping records below level (a slog.Level or a *slog.LevelVar). Writes to
// w are serialized, as slog.JSONHandler does.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	if level == nil {
		level = slog.LevelInfo
	}
	inner := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: replace})
	return slog.New(&handler{inner: inner})
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

// Severity is the Cloud Logging severity of a slog level.
func Severity(l slog.Level) string {
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

// Label returns an attribute that becomes the entry label key=value and no
// field of the payload.
func Label(key, value string) slog.Attr { return slog.String(LabelPrefix+key, value) }

// With returns a logger whose entries carry the labels given as key, value
// pairs. A well-known key (LabelKeys) is also a field of every entry, as if
// added with l.With; any other key is a label only. A trailing key without
// a value gets the empty value.
func With(l *slog.Logger, keyValues ...string) *slog.Logger {
	attrs := make([]any, 0, (len(keyValues)+1)/2)
	for i := 0; i < len(keyValues); i += 2 {
		k, v := keyValues[i], ""
		if i+1 < len(keyValues) {
			v = keyValues[i+1]
		}
		if slices.Contains(LabelKeys, k) {
			attrs = append(attrs, slog.String(k, v))
		} else {
			attrs = append(attrs, Label(k, v))
		}
	}
	return l.With(attrs...)
}

type ctxKey struct{}

// NewContext returns a copy of ctx carrying l.
func NewContext(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the logger carried by ctx, or slog.Default() when it
// carries none.
func FromContext(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(ctxKey{}).(*slog.Logger); ok && l != nil {
		return l
	}
	return slog.Default()
}

// replace renames slog's built-in keys to Cloud Logging's and drops label-only
// attributes from the payload (the handler has already collected them).
func replace(groups []string, a slog.Attr) slog.Attr {
	if strings.HasPrefix(a.Key, LabelPrefix) {
		return slog.Attr{}
	}
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.LevelKey:
		if l, ok := a.Value.Any().(slog.Level); ok {
			return slog.String("severity", Severity(l))
		}
	case slog.MessageKey:
		a.Key = "message"
	}
	return a
}

// handler collects labels and hands records to a JSON handler that has no
// groups of its own, so the labels object always lands at the top level: the
// groups opened with WithGroup, and the attributes added inside them, are
// rebuilt around each record's attributes in Handle.
type handler struct {
	inner  slog.Handler      // JSON handler with the top-level WithAttrs applied
	labels map[string]string // collected from WithAttrs
	groups []string          // open groups, outermost first
	// groupAttrs[i] holds the attributes added while groups[:i+1] were open.
	groupAttrs [][]slog.Attr
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	labels := maps.Clone(h.labels)
	if labels == nil {
		labels = map[string]string{}
	}
	var attrs []slog.Attr
	r.Attrs(func(a slog.Attr) bool {
		collect(labels, a, len(h.groups) == 0)
		attrs = append(attrs, a)
		return true
	})
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	if len(h.groups) == 0 {
		out.AddAttrs(attrs...)
	} else {
		// Innermost group first: its own attributes, then the record's.
		inner := append(slices.Clone(h.groupAttrs[len(h.groups)-1]), attrs...)
		for i := len(h.groups) - 1; i >= 0; i-- {
			g := slog.Attr{Key: h.groups[i], Value: slog.GroupValue(inner...)}
			if i == 0 {
				out.AddAttrs(g)
				break
			}
			inner = append(slices.Clone(h.groupAttrs[i-1]), g)
		}
	}
	if len(labels) > 0 {
		out.AddAttrs(slog.Any(LabelsKey, labels))
	}
	return h.inner.Handle(ctx, out)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	n := &handler{inner: h.inner, labels: maps.Clone(h.labels), groups: h.groups, groupAttrs: h.groupAttrs}
	if n.labels == nil {
		n.labels = map[string]string{}
	}
	for _, a := range attrs {
		collect(n.labels, a, len(h.groups) == 0)
	}
	if len(h.groups) == 0 {
		n.inner = h.inner.WithAttrs(attrs)
		return n
	}
	n.groupAttrs = slices.Clone(h.groupAttrs)
	last := len(n.groupAttrs) - 1
	n.groupAttrs[last] = append(slices.Clone(n.groupAttrs[last]), attrs...)
	return n
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &handler{
		inner:      h.inner,
		labels:     h.labels,
		groups:     append(slices.Clone(h.groups), name),
		groupAttrs: append(slices.Clone(h.groupAttrs), nil),
	}
}

// collect adds the labels a carries to labels: a label-only attribute at any
// depth, a well-known key only at the top level.
func collect(labels map[string]string, a slog.Attr, top bool) {
	v := a.Value.Resolve()
	switch {
	case strings.HasPrefix(a.Key, LabelPrefix):
		labels[strings.TrimPrefix(a.Key, LabelPrefix)] = v.String()
	case v.Kind() == slog.KindGroup:
		// An inline group (empty key) keeps its attributes at this level.
		for _, g := range v.Group() {
			collect(labels, g, top && a.Key == "")
		}
	case top && slices.Contains(LabelKeys, a.Key):
		labels[a.Key] = v.String()
	}
}
