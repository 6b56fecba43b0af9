package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestInfoCommand(t *testing.T) {
	code, out, _ := runMain(t, "info", "--sql-dir", testSQL, "--status", "complete", "--json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var entries []map[string]any
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("%d Complete entries, want 2: %s", len(entries), out)
	}
	for _, e := range entries {
		if e["status"] != "Complete" || e["qualified_table_name"] == nil || e["entry_hash"] == nil || e["file"] == nil {
			t.Errorf("entry %v", e)
		}
	}
	code, out, _ = runMain(t, "info", "--sql-dir", testSQL, "moz-fx-data-shared-prod.test_derived.day_v1")
	if code != 0 || !strings.Contains(out, "moz-fx-data-shared-prod.test_derived.day_v1 has 2 backfill(s):") || !strings.Contains(out, "There are a total of 2 backfill(s).") {
		t.Errorf("exit %d\n%s", code, out)
	}
}
