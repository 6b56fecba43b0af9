package backfill_test

import (
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/config"
)

// TestCheckTargetScript is rule R5: under a target, a backfill that runs a
// Python script (query.py, or a .py custom query) is rejected; SQL
// backfills, and every backfill without a target, pass.
func TestCheckTargetScript(t *testing.T) {
	dev := &config.Target{Name: "dev", Project: "sandbox"}
	for _, tc := range []struct {
		name   string
		files  []string
		custom string
		target *config.Target
		reject bool
	}{
		{"query.py under a target", []string{"query.py=x"}, "", dev, true},
		{"query.py without a target", []string{"query.py=x"}, "", nil, false},
		{"query.sql under a target", []string{"query.sql=SELECT 1"}, "", dev, false},
		{".py custom query under a target", []string{"query.sql=SELECT 1", "fix.py=x"}, "fix.py", dev, true},
		{".sql custom query of a query.py table under a target", []string{"query.py=x", "fix.sql=SELECT 1"}, "fix.sql", dev, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := entryFor("2024-03-20", "2024-03-01", "2024-03-02")
			e.CustomQueryPath = tc.custom
			err := backfill.CheckTargetScript(planTable(t, "moz-fx-data-shared-prod.d.t_v1", mdDay, tc.files...), e, tc.target)
			if !tc.reject {
				if err != nil {
					t.Errorf("rejected: %v", err)
				}
				return
			}
			if err == nil || err.Rule != "R5" || err.EntryDate != "2024-03-20" || !strings.Contains(err.Message, "--target is not supported") {
				t.Errorf("got %+v, want R5 for entry 2024-03-20", err)
			}
		})
	}
}
