package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"testing"
	"time"
)

// timeField matches the one field whose value changes from run to run.
var timeField = regexp.MustCompile(`^\{"time":"([^"]+)",`)

func TestJSONShape(t *testing.T) {
	for _, tc := range []struct {
		name string
		log  func(l *slog.Logger)
		want string // the line, with the time replaced by T; "" for no line
	}{
		{
			name: "well-known keys are fields and labels",
			log: func(l *slog.Logger) {
				l.With("component", "worker").Warn("partition failed",
					"backfill_id", "p.d.t/2026-11-01", "partition", "20261101", "rows", 3)
			},
			want: `{"time":"T","severity":"WARNING","message":"partition failed","component":"worker",` +
				`"backfill_id":"p.d.t/2026-11-01","partition":"20261101","rows":3,` +
				`"logging.googleapis.com/labels":{"backfill_id":"p.d.t/2026-11-01","component":"worker","partition":"20261101"}}`,
		},
		{
			name: "no labels, no labels object",
			log:  func(l *slog.Logger) { l.Info("hello") },
			want: `{"time":"T","severity":"INFO","message":"hello"}`,
		},
		{
			name: "With: well-known key is a field too, other keys are labels only",
			log: func(l *slog.Logger) {
				With(l, KeyBackfillID, "p.d.t/2026-11-01", "execution", "worker-abc").Info("started")
			},
			want: `{"time":"T","severity":"INFO","message":"started","backfill_id":"p.d.t/2026-11-01",` +
				`"logging.googleapis.com/labels":{"backfill_id":"p.d.t/2026-11-01","execution":"worker-abc"}}`,
		},
		{
			name: "With: trailing key gets the empty value",
			log:  func(l *slog.Logger) { With(l, "execution").Info("m") },
			want: `{"time":"T","severity":"INFO","message":"m","logging.googleapis.com/labels":{"execution":""}}`,
		},
		{
			name: "Label attribute on a record",
			log:  func(l *slog.Logger) { l.Debug("m", Label("attempt", "2"), "n", 1) },
			want: `{"time":"T","severity":"DEBUG","message":"m","n":1,"logging.googleapis.com/labels":{"attempt":"2"}}`,
		},
		{
			name: "non-string label values are formatted",
			log:  func(l *slog.Logger) { l.Info("m", "partition", 20261101) },
			want: `{"time":"T","severity":"INFO","message":"m","partition":20261101,` +
				`"logging.googleapis.com/labels":{"partition":"20261101"}}`,
		},
		{
			name: "groups nest fields; labels stay at the top; keys inside groups are not labels",
			log: func(l *slog.Logger) {
				l.With("component", "completion").WithGroup("job").With("partition", "x", Label("step", "backup")).
					WithGroup("stats").Error("copy failed", "rows", 1, "error", errors.New("boom"))
			},
			want: `{"time":"T","severity":"ERROR","message":"copy failed","component":"completion",` +
				`"job":{"partition":"x","stats":{"rows":1,"error":"boom"}},` +
				`"logging.googleapis.com/labels":{"component":"completion","step":"backup"}}`,
		},
		{
			name: "inline group keeps well-known keys at the top",
			log:  func(l *slog.Logger) { l.Info("m", slog.Group("", "table", "p.d.t")) },
			want: `{"time":"T","severity":"INFO","message":"m","table":"p.d.t","logging.googleapis.com/labels":{"table":"p.d.t"}}`,
		},
		{
			name: "below the level: nothing",
			log:  func(l *slog.Logger) { l.Log(context.Background(), slog.LevelDebug-4, "too low") },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.log(New(&buf, slog.LevelDebug))
			got := buf.String()
			if tc.want == "" {
				if got != "" {
					t.Fatalf("got %q, want no output", got)
				}
				return
			}
			m := timeField.FindStringSubmatch(got)
			if m == nil {
				t.Fatalf("line does not start with a time field: %q", got)
			}
			if _, err := time.Parse(time.RFC3339Nano, m[1]); err != nil {
				t.Errorf("time %q is not RFC 3339: %v", m[1], err)
			}
			got = timeField.ReplaceAllString(got, `{"time":"T",`)
			if got != tc.want+"\n" {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			var v map[string]any
			if err := json.Unmarshal([]byte(got), &v); err != nil {
				t.Errorf("not valid JSON: %v", err)
			}
		})
	}
}

func TestSeverity(t *testing.T) {
	for _, tc := range []struct {
		level slog.Level
		want  string
	}{
		{slog.LevelDebug - 4, "DEBUG"},
		{slog.LevelDebug, "DEBUG"},
		{slog.LevelInfo, "INFO"},
		{slog.LevelInfo + 2, "INFO"},
		{slog.LevelWarn, "WARNING"},
		{slog.LevelError, "ERROR"},
		{slog.LevelError + 4, "ERROR"},
	} {
		var buf bytes.Buffer
		New(&buf, slog.LevelDebug-4).Log(context.Background(), tc.level, "x")
		var got map[string]any
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
			t.Fatalf("%v: %v", tc.level, err)
		}
		if got["severity"] != tc.want {
			t.Errorf("%v: severity %v, want %s", tc.level, got["severity"], tc.want)
		}
		if _, ok := got["level"]; ok {
			t.Errorf("%v: level key kept; Cloud Logging reads severity", tc.level)
		}
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "INFO": slog.LevelInfo, " warning ": slog.LevelWarn, "Warn": slog.LevelWarn,
		"ERROR": slog.LevelError, "": slog.LevelInfo, "verbose": slog.LevelInfo,
	} {
		if got := ParseLevel(in); got != want {
			t.Errorf("ParseLevel(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestLevelVar(t *testing.T) {
	var lv slog.LevelVar
	lv.Set(slog.LevelWarn)
	var buf bytes.Buffer
	l := New(&buf, &lv)
	l.Info("dropped")
	lv.Set(slog.LevelInfo)
	l.Info("kept")
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("want exactly one line, got %q: %v", buf.String(), err)
	}
	if got["message"] != "kept" {
		t.Errorf("message = %v", got["message"])
	}
}

func TestContext(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, slog.LevelInfo)
	ctx := NewContext(context.Background(), l)
	if FromContext(ctx) != l {
		t.Error("FromContext did not return the logger NewContext stored")
	}
	if FromContext(context.Background()) != slog.Default() {
		t.Error("FromContext without a logger should be slog.Default()")
	}
	FromContext(ctx).InfoContext(ctx, "via context", KeyTable, "p.d.t")
	if !bytes.Contains(buf.Bytes(), []byte(`"logging.googleapis.com/labels":{"table":"p.d.t"}`)) {
		t.Errorf("output %q", buf.String())
	}
}
