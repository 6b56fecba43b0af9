package main

import (
	"fmt"

	"github.com/bqbackfill/bqbackfill/shared/config"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// shownQuery is what plan --show-query prints: the SQL each partition
// runs, the generated checks under shredder mitigation, and how the staged
// partitions replace production's.
type shownQuery struct {
	SQL    string `json:"sql,omitempty"`
	Script string `json:"script,omitempty"` // a query.py path: no SQL
	Checks string `json:"shredder_checks,omitempty"`
	// Promotion is the table's promotion mode (bqbackfill.yaml
	// promotion:), copy or atomic.
	Promotion config.PromotionMode `json:"promotion"`
}

// showQuery is the query part of spec, the spec the scanner stores
// (treescan.SpecFromPlan: rendered, redirected to staging for
// depends_on_past, wrapped by the shredder mitigation, with the
// configured promotion).
func showQuery(spec *pipeline.Spec) *shownQuery {
	out := &shownQuery{SQL: spec.SQL, Promotion: spec.Promotion}
	if spec.IsScript() {
		out.Script = spec.Query.Path
	}
	if spec.Shredder != nil {
		out.Checks = spec.Shredder.ChecksFile(spec.Staging)
	}
	return out
}

// promotionText says how each promotion mode replaces production's
// partitions (config.PromotionMode's meanings).
var promotionText = map[config.PromotionMode]string{
	config.PromoteCopy:   "one WRITE_TRUNCATE copy job per partition, from staging",
	config.PromoteAtomic: fmt.Sprintf("one transaction per %d partitions: DELETE them from production, INSERT them from staging", warehouse.MaxReplacePartitions),
}

func printQuery(io IO, q *shownQuery) {
	if q.Script != "" {
		fmt.Fprintf(io.Out, "query: %s is a Python script; it runs per partition with the date argument (no SQL to show)\n", q.Script)
	} else {
		fmt.Fprintf(io.Out, "\n-- The query run for each partition (parameters as listed above):\n%s\n", q.SQL)
		if q.Checks != "" {
			fmt.Fprintf(io.Out, "\n-- The checks run after each partition:\n%s", q.Checks)
		}
	}
	fmt.Fprintf(io.Out, "\n-- Promotion (bqbackfill.yaml promotion:): %s, %s\n", q.Promotion, promotionText[q.Promotion])
}
