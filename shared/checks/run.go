package checks

import (
	"context"
	"fmt"
	"strings"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Reader runs read-only queries; warehouse.Warehouse satisfies it.
type Reader interface {
	Read(ctx context.Context, job warehouse.QueryJob) (*warehouse.Rows, error)
}

// Result is the outcome of one check.
type Result struct {
	Check
	Passed bool `json:"passed"`
	// Message says why the check failed: the ERROR() or ASSERT text when
	// there is one, else the query's error.
	Message string `json:"message,omitempty"`
}

// Blocking reports whether a failed result blocks promotion: a failing
// #fail check. A statement marked both #fail and #warn blocks.
func (r Result) Blocking() bool { return !r.Passed && r.Fail }

func (r Result) String() string {
	if r.Passed {
		return r.Name() + " passed"
	}
	return r.Name() + " failed: " + r.Message
}

// Run runs every check, in order, even after a failure (as bqetl does), as
// read-only queries shaped like job (its Params, BillingProject,
// DefaultProject, DefaultDataset, Labels; SQL is each check's). A check
// fails when its query fails for any reason that is not transient —
// ERROR() evaluated, an ASSERT that is FALSE or NULL, a syntax error, a
// missing table or column, an unbound parameter — as `bq query` exiting
// non-zero fails a bqetl check; its rows are ignored. A transient error or
// a cancelled context stops the run and is returned, so that the caller
// retries instead of recording a verdict.
func Run(ctx context.Context, r Reader, cs []Check, job warehouse.QueryJob) ([]Result, error) {
	out := make([]Result, 0, len(cs))
	for _, c := range cs {
		q := job
		q.SQL = c.SQL
		q.Destination, q.Partition, q.DryRun = nil, "", false
		_, err := r.Read(ctx, q)
		switch {
		case err == nil:
			out = append(out, Result{Check: c, Passed: true})
		case ctx.Err() != nil:
			return out, ctx.Err()
		case warehouse.IsTransient(err):
			return out, fmt.Errorf("run %s: %w", c.Name(), err)
		default:
			out = append(out, Result{Check: c, Message: Message(err)})
		}
	}
	return out, nil
}

// Message is the text a failed check reports: bqetl prints from
// "ETL Data Check Failed:" on when the output has it, newlines as spaces.
func Message(err error) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if i := strings.Index(msg, "ETL Data Check Failed:"); i >= 0 {
		msg = msg[i:]
	}
	return msg
}

// Summary counts results: how many passed, how many failed blocking, how
// many warned.
func Summary(rs []Result) (passed, failed, warned int) {
	for _, r := range rs {
		switch {
		case r.Passed:
			passed++
		case r.Blocking():
			failed++
		default:
			warned++
		}
	}
	return
}

// Gate runs checks files against a warehouse: the worker's data-check gate
// (it implements pipeline.Checker).
type Gate struct {
	Reader Reader
}

// RunChecks renders src for table with target as the table read, runs its
// checks with job's parameters and settings, and returns the failed #fail
// checks (blocking) and the failed #warn checks, each as "check N (#fail)
// failed: message". A file that does not render fails as one blocking
// check: validate (rule D1) reports it before a backfill starts, so this
// happens only for a file broken by an engine change.
func (g Gate) RunChecks(ctx context.Context, src string, table, target warehouse.TableRef, job warehouse.QueryJob) (failed, warned []string, err error) {
	cs, err := Prepare(src, Options{Table: table, Target: target, Params: job.Params})
	if err != nil {
		return []string{err.Error()}, nil, nil
	}
	rs, err := Run(ctx, g.Reader, cs, job)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range rs {
		switch {
		case r.Passed:
		case r.Blocking():
			failed = append(failed, r.String())
		default:
			warned = append(warned, r.String())
		}
	}
	return failed, warned, nil
}
