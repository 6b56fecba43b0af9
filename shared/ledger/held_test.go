package ledger

import (
	"testing"
	"time"
)

// TestHeldForOperator: a backfill waits for an operator when its
// completion is held or a rollback of it began, and only then.
func TestHeldForOperator(t *testing.T) {
	at := time.Date(2024, 3, 20, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		b    Backfill
		want bool
	}{
		{"completing", Backfill{State: StateCompleting}, false},
		{"held", Backfill{State: StateCompleting, Held: "its entry is now Cancelled"}, true},
		{"rollback started", Backfill{State: StateCompleting, RollbackStartedAt: at}, true},
		{"held and rollback started", Backfill{State: StateCompleting, Held: "x", RollbackStartedAt: at}, true},
	} {
		if got := tc.b.HeldForOperator(); got != tc.want {
			t.Errorf("%s: HeldForOperator() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
