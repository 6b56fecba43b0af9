package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestCloudLoggingShape(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, slog.LevelDebug).With("component", "worker")
	log.Warn("partition failed", "backfill_id", "p.d.t/2026-11-01", "partition", "20261101", "rows", 3)
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("not one JSON line: %q: %v", buf.String(), err)
	}
	if got["severity"] != "WARNING" || got["message"] != "partition failed" {
		t.Errorf("severity/message = %v/%v", got["severity"], got["message"])
	}
	if _, ok := got["level"]; ok {
		t.Error("level key kept; Cloud Logging reads severity")
	}
	if got["backfill_id"] != "p.d.t/2026-11-01" || got["rows"] != float64(3) {
		t.Errorf("fields = %v", got)
	}
	labels, _ := got[labelsKey].(map[string]any)
	want := map[string]any{"component": "worker", "backfill_id": "p.d.t/2026-11-01", "partition": "20261101"}
	for k, v := range want {
		if labels[k] != v {
			t.Errorf("label %s = %v, want %v (labels %v)", k, labels[k], v, labels)
		}
	}
}

func TestSeverities(t *testing.T) {
	for _, tc := range []struct {
		level slog.Level
		want  string
	}{{slog.LevelDebug, "DEBUG"}, {slog.LevelInfo, "INFO"}, {slog.LevelWarn, "WARNING"}, {slog.LevelError, "ERROR"}} {
		var buf bytes.Buffer
		New(&buf, slog.LevelDebug).Log(context.Background(), tc.level, "x")
		var got map[string]any
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got["severity"] != tc.want {
			t.Errorf("%v: severity %v, want %s", tc.level, got["severity"], tc.want)
		}
	}
	if ParseLevel("warning") != slog.LevelWarn || ParseLevel("") != slog.LevelInfo || ParseLevel("ERROR") != slog.LevelError {
		t.Error("ParseLevel")
	}
}
