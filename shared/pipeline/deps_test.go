package pipeline_test

import (
	"os/exec"
	"strings"
	"testing"
)

// deps lists the packages pkg depends on (go list -deps).
func deps(t *testing.T, pkg string) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	m := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		m[p] = true
	}
	return m
}

// The pipeline is written against interfaces: it neither reads trees
// (shared/sqltree, and shared/querytext renders queries on the scanner's
// side, shared/treescan) nor talks to Pub/Sub (shared/queue, the client).
// shared/backfill's plan types are allowed; what they need themselves
// (shared/querytext, for the shredder mitigation's planning) does not count.
func TestPipelineDependencies(t *testing.T) {
	const mod = "github.com/bqbackfill/bqbackfill/shared/"
	got := deps(t, mod+"pipeline")
	plan := deps(t, mod+"backfill")
	for _, forbidden := range []string{"cloud.google.com/go/pubsub/v2", mod + "queue", mod + "sqltree", mod + "querytext", mod + "treescan"} {
		if got[forbidden] && !plan[forbidden] {
			t.Errorf("shared/pipeline depends on %s", forbidden)
		}
		if forbidden != mod+"querytext" && got[forbidden] {
			t.Errorf("shared/pipeline depends on %s (even through shared/backfill)", forbidden)
		}
	}
	for p := range got {
		if strings.HasPrefix(p, "cloud.google.com/go/pubsub") {
			t.Errorf("shared/pipeline depends on the Pub/Sub client (%s)", p)
		}
	}
}
