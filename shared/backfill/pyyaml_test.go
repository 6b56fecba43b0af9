package backfill

import (
	"encoding/json"
	"os"
	"testing"

	"cloud.google.com/go/civil"
)

// pyCase is one entry of testdata/pyyaml/cases.json.
type pyCase struct {
	EntryDate                     string   `json:"entry_date"`
	StartDate                     string   `json:"start_date"`
	EndDate                       string   `json:"end_date"`
	ExcludedDates                 []string `json:"excluded_dates"`
	Reason                        string   `json:"reason"`
	Watchers                      []string `json:"watchers"`
	Status                        string   `json:"status"`
	CustomQueryPath               string   `json:"custom_query_path"`
	ShredderMitigation            bool     `json:"shredder_mitigation"`
	ReinitializeTable             *bool    `json:"reinitialize_table"`
	ReinitializeSamplingBatchSize *int     `json:"reinitialize_sampling_batch_size"`
	OverrideRetentionLimit        bool     `json:"override_retention_limit"`
	BillingProject                string   `json:"billing_project"`
	QueryScriptEntrypoint         string   `json:"query_script_entrypoint"`
	QueryScriptDateArg            string   `json:"query_script_date_arg"`
	QueryScriptArgs               []string `json:"query_script_args"`
	QueryScriptDryRunArg          string   `json:"query_script_dry_run_arg"`
}

func mustDate(t testing.TB, s string) civil.Date {
	t.Helper()
	d, err := civil.ParseDate(s)
	if err != nil {
		t.Fatalf("bad date %q: %v", s, err)
	}
	return d
}

// TestCanonicalMatchesPyYAML compares Canonical with what PyYAML's yaml.dump
// wrote for the same entries (testdata/pyyaml/gen.py made golden.json):
// plain, quoted, literal and double-quoted styles, wrapping at column 80,
// and the field order.
func TestCanonicalMatchesPyYAML(t *testing.T) {
	var cases []pyCase
	var golden []string
	for name, v := range map[string]any{"testdata/pyyaml/cases.json": &cases, "testdata/pyyaml/golden.json": &golden} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if len(cases) != len(golden) {
		t.Fatalf("%d cases, %d golden outputs", len(cases), len(golden))
	}
	for i, c := range cases {
		e := &Entry{
			EntryDate: mustDate(t, c.EntryDate), StartDate: mustDate(t, c.StartDate), EndDate: mustDate(t, c.EndDate),
			Reason: c.Reason, Watchers: c.Watchers, Status: Status(c.Status), CustomQueryPath: c.CustomQueryPath,
			ShredderMitigation: c.ShredderMitigation, ReinitializeTable: c.ReinitializeTable,
			ReinitializeSamplingBatchSize: c.ReinitializeSamplingBatchSize, OverrideRetentionLimit: c.OverrideRetentionLimit,
			BillingProject: c.BillingProject, QueryScriptEntrypoint: c.QueryScriptEntrypoint,
			QueryScriptDateArg: c.QueryScriptDateArg, QueryScriptArgs: c.QueryScriptArgs, QueryScriptDryRunArg: c.QueryScriptDryRunArg,
		}
		for _, d := range c.ExcludedDates {
			e.ExcludedDates = append(e.ExcludedDates, mustDate(t, d))
		}
		if got := string(e.Canonical()); got != golden[i] {
			t.Errorf("case %d (reason %q):\n got:\n%s\nwant:\n%s", i, c.Reason, got, golden[i])
		}
	}
}
