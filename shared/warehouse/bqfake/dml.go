package bqfake

import (
	"fmt"
	"regexp"
	"strings"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// ---- DML that empties partitions ----

var (
	truncateRE = regexp.MustCompile("(?is)^\\s*TRUNCATE\\s+TABLE\\s+`?([A-Za-z0-9_-]+)\\.([A-Za-z0-9_]+)\\.([A-Za-z0-9_]+)`?\\s*;?\\s*$")
	deleteRE   = regexp.MustCompile("(?is)^\\s*DELETE\\s+(?:FROM\\s+)?`?([A-Za-z0-9_-]+)\\.([A-Za-z0-9_]+)\\.([A-Za-z0-9_]+)`?\\s+WHERE\\s+(.*?)\\s*;?\\s*$")
	// rangeRE is one whole-partition range of the partitioning column:
	// (`f` >= DATE 'lo' AND `f` < DATE 'hi').
	rangeRE = regexp.MustCompile("(?i)^\\(`?(\\w+)`?\\s*>=\\s*(?:DATE|TIMESTAMP|DATETIME)\\s*'([0-9-]+)'\\s+AND\\s+`?(\\w+)`?\\s*<\\s*(?:DATE|TIMESTAMP|DATETIME)\\s*'([0-9-]+)'\\)$")
	// dmlTargetRE finds the table a DML statement changes.
	dmlTargetRE = regexp.MustCompile("(?is)\\b(?:DELETE\\s+FROM|DELETE|TRUNCATE\\s+TABLE|INSERT\\s+INTO|UPDATE|MERGE\\s+INTO|MERGE)\\s+`?([A-Za-z0-9_-]+)\\.([A-Za-z0-9_]+)\\.([A-Za-z0-9_]+)`?")
)

// dmlHandler runs the DML statements that empty partitions, as the
// bigquery adapter sends them:
//
//	TRUNCATE TABLE `p.d.t`
//	DELETE FROM `p.d.t` WHERE (`f` >= DATE 'lo' AND `f` < DATE 'hi') OR …
//
// The WHERE clause must be whole-partition ranges of the table's
// partitioning column (BigQuery runs such a DELETE without scanning
// bytes); the rows of every partition that starts inside a range are
// removed. Any other DELETE fails the job: the fake evaluates no SQL.
func (s *Server) dmlHandler(q *Query) (*Result, error) {
	if m := truncateRE.FindStringSubmatch(q.SQL); m != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		t := s.table(m[1], m[2], m[3])
		if t == nil {
			return nil, &JobError{Reason: "notFound", Message: fmt.Sprintf("Not found: Table %s:%s.%s", m[1], m[2], m[3])}
		}
		t.rows = map[string]int64{}
		s.refreshNumRows(t)
		return &Result{}, nil
	}
	m := deleteRE.FindStringSubmatch(q.SQL)
	if m == nil {
		return nil, nil
	}
	type span struct{ lo, hi civil.Date }
	var spans []span
	var field string
	for _, cond := range strings.Split(m[4], " OR ") {
		r := rangeRE.FindStringSubmatch(strings.TrimSpace(cond))
		if r == nil || !strings.EqualFold(r[1], r[3]) {
			return nil, &JobError{Reason: "invalidQuery", Message: "bqfake: DELETE is modelled for whole-partition ranges of the partitioning column only, got WHERE " + m[4]}
		}
		lo, err1 := civil.ParseDate(r[2])
		hi, err2 := civil.ParseDate(r[4])
		if err1 != nil || err2 != nil {
			return nil, &JobError{Reason: "invalidQuery", Message: "bqfake: bad date in " + cond}
		}
		field = r[1]
		spans = append(spans, span{lo, hi})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.table(m[1], m[2], m[3])
	if t == nil {
		return nil, &JobError{Reason: "notFound", Message: fmt.Sprintf("Not found: Table %s:%s.%s", m[1], m[2], m[3])}
	}
	if tp := t.meta.TimePartitioning; tp == nil || !strings.EqualFold(tp.Field, field) {
		return nil, &JobError{Reason: "invalidQuery", Message: fmt.Sprintf("bqfake: DELETE filters on %s, which does not partition %s:%s.%s", field, m[1], m[2], m[3])}
	}
	for id := range t.rows {
		_, start, _, err := warehouse.ParsePartitionID(id)
		if err != nil {
			continue // __NULL__ and __UNPARTITIONED__ hold no dates
		}
		for _, sp := range spans {
			if !start.Before(sp.lo) && start.Before(sp.hi) {
				delete(t.rows, id)
				break
			}
		}
	}
	s.refreshNumRows(t)
	return &Result{}, nil
}

// authorizeDML checks that email may change the rows of every existing
// table a DML statement in sql writes (bigquery.tables.updateData).
// Callers hold s.mu.
func (s *Server) authorizeDML(email, sql string) *httpError {
	if !s.enforce {
		return nil
	}
	for _, m := range dmlTargetRE.FindAllStringSubmatch(sql, -1) {
		if s.table(m[1], m[2], m[3]) == nil {
			continue
		}
		if h := s.require(email, "bigquery.tables.updateData", m[1], m[2], m[3]); h != nil {
			return h
		}
	}
	return nil
}
