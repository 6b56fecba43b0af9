package notify

import "fmt"

// FailureKind says what kind of error failed a partition, so that the
// notice and status tell the user what helps: `bqbackfill retry` re-runs
// the query recorded when the backfill started, so it only helps when the
// same query can succeed later. The ledger records it per partition.
type FailureKind string

// The failure kinds.
const (
	// FailureTransient: rate limits, backend errors, timeouts, quota; the
	// same query may succeed later.
	FailureTransient FailureKind = "transient"
	// FailurePermission: bqbackfill may not read or write a table the job
	// uses; the same query succeeds once access is granted.
	FailurePermission FailureKind = "permission"
	// FailureNotFound: a table the job reads or writes does not exist.
	FailureNotFound FailureKind = "not_found"
	// FailureQuery: the query is wrong (SQL error, unsupported construct,
	// rows outside the partition); the same query fails again.
	FailureQuery FailureKind = "query"
	// FailureSchema: the result does not fit the table (schema mismatch).
	FailureSchema FailureKind = "schema"
	// FailureCheck: a #fail data check failed on the partition's data.
	FailureCheck FailureKind = "check"
	// FailureUnknown: the error could not be classified.
	FailureUnknown FailureKind = "unknown"
)

// FailureAdvice says what to do about partitions of table that failed
// with kind (one sentence, plain text; commands in single quotes).
func FailureAdvice(kind FailureKind, table string) string {
	retry := fmt.Sprintf("'bqbackfill retry %s'", table)
	newEntry := "fix query.sql and add a new backfill entry (retry re-runs the query recorded when the backfill started, not the changed file)"
	switch kind {
	case FailureTransient:
		return "The error is temporary (rate limit, backend error, timeout or quota): run " + retry + " to re-run the failed partitions."
	case FailurePermission:
		return "bqbackfill may not use a table the query reads or writes: grant access, then run " + retry + "."
	case FailureNotFound:
		return "A table the query reads or writes does not exist: create it, then run " + retry + "; or, if the query names the wrong table, " + newEntry + "."
	case FailureQuery:
		return "The query itself fails (an SQL error, or rows outside the partition), so a retry fails again: " + newEntry + "."
	case FailureSchema:
		return "The query's result does not fit the table's schema, so a retry fails again: " + newEntry + " (or change the table's schema first)."
	case FailureCheck:
		return "A #fail data check failed on the data the query wrote: look at the partition in staging; " + retry + " helps only if the source data was fixed; to change the query, " + newEntry + "."
	}
	return "Read the error: if the cause was temporary run " + retry + "; if the query is wrong, " + newEntry + "."
}

// KindAdvice is what helps the failed partitions of one kind of error.
type KindAdvice struct {
	Kind FailureKind
	// Count is how many failed partitions failed with Kind.
	Count int
	// Text is FailureAdvice(Kind, table).
	Text string
}

// Line is the advice with its count, "<n> partition(s) (<kind> error):
// <text>", as status shows it and a notice does when several kinds failed.
func (a KindAdvice) Line() string {
	return fmt.Sprintf("%d partition(s) (%s error): %s", a.Count, a.Kind, a.Text)
}

// AdviseFailures counts the kinds of the failed partitions ("" counts as
// unknown: a record with no kind) and says what helps each, one KindAdvice
// per kind in the order the kind first appears in kinds. The notice and
// status both word their advice with it.
func AdviseFailures(kinds []FailureKind, table string) []KindAdvice {
	var out []KindAdvice
	at := map[FailureKind]int{}
	for _, k := range kinds {
		if k == "" {
			k = FailureUnknown
		}
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, KindAdvice{Kind: k, Text: FailureAdvice(k, table)})
		}
		out[i].Count++
	}
	return out
}
