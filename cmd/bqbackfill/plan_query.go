package main

import (
	"fmt"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/treescan"
)

// shownQuery is what plan --show-query prints: the SQL each partition
// runs, and the generated checks under shredder mitigation.
type shownQuery struct {
	SQL    string `json:"sql,omitempty"`
	Script string `json:"script,omitempty"` // a query.py path: no SQL
	Checks string `json:"shredder_checks,omitempty"`
}

// showQuery builds the partitions' SQL exactly as the scanner stores it
// (rendered, redirected to staging for depends_on_past, wrapped by the
// shredder mitigation).
func showQuery(t *backfill.Table, p *backfill.Plan) (*shownQuery, error) {
	spec, err := treescan.SpecFromPlan(t, p, "")
	if err != nil {
		return nil, fmt.Errorf("show the query of %s: %w", p.Table, err)
	}
	out := &shownQuery{SQL: spec.SQL}
	if spec.IsScript() {
		out.Script = spec.Query.Path
	}
	if p.Shredder != nil {
		out.Checks = p.Shredder.ChecksFile(p.Staging)
	}
	return out, nil
}

func printQuery(io IO, q *shownQuery) {
	if q.Script != "" {
		fmt.Fprintf(io.Out, "query: %s is a Python script; it runs per partition with the date argument (no SQL to show)\n", q.Script)
		return
	}
	fmt.Fprintf(io.Out, "\n-- The query run for each partition (parameters as listed above):\n%s\n", q.SQL)
	if q.Checks != "" {
		fmt.Fprintf(io.Out, "\n-- The checks run after each partition:\n%s", q.Checks)
	}
}
