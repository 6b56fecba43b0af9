package bigquery_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	bq "google.golang.org/api/bigquery/v2"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	bqw "github.com/bqbackfill/bqbackfill/shared/warehouse/bigquery"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/warehousetest"
)

// conformanceHarness runs the shared suite against the BigQuery warehouse
// on the REST fake. The fake evaluates no SQL, so the harness reports no
// RealData: cases that seed and read rows are skipped; the metadata,
// IAM, dataset, not-found and error-code cases run.
type conformanceHarness struct {
	w    *bqw.Warehouse
	fake *bqfake.Server

	mu     sync.Mutex
	offset time.Duration
}

func (h *conformanceHarness) Warehouse() warehouse.Warehouse { return h.w }
func (h *conformanceHarness) Project() string                { return "conformance-project" }
func (h *conformanceHarness) Capabilities() warehousetest.Capabilities {
	return warehousetest.Capabilities{RealData: false, DryRunBytes: false}
}

func (h *conformanceHarness) SetDatasetAccess(_ context.Context, project, dataset string, entries []warehouse.AccessEntry) error {
	var access []*bq.DatasetAccess
	for _, e := range entries {
		a := &bq.DatasetAccess{Role: e.Role}
		switch e.EntityType {
		case "userByEmail":
			a.UserByEmail = e.Entity
		case "groupByEmail":
			a.GroupByEmail = e.Entity
		case "domain":
			a.Domain = e.Entity
		case "specialGroup":
			a.SpecialGroup = e.Entity
		case "iamMember":
			a.IamMember = e.Entity
		case "view":
			p, d, tbl, ok := splitRef(e.Entity)
			if !ok {
				return fmt.Errorf("view entity %q is not project.dataset.table", e.Entity)
			}
			a.View = &bq.TableReference{ProjectId: p, DatasetId: d, TableId: tbl}
		default:
			return fmt.Errorf("entity type %q is not seeded by this harness", e.EntityType)
		}
		access = append(access, a)
	}
	h.fake.SetDatasetAccess(project, dataset, access)
	return nil
}

// Advance moves the fake's clock (table expiration) forward.
func (h *conformanceHarness) Advance(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.offset += d
}

func (h *conformanceHarness) now() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return time.Now().Add(h.offset)
}

func splitRef(s string) (p, d, t string, ok bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

var (
	leadingKeyword = regexp.MustCompile(`(?i)^\s*\(*\s*(SELECT|WITH|CREATE|INSERT|UPDATE|DELETE|MERGE|DECLARE|BEGIN|DROP|ALTER|TRUNCATE)\b`)
	emptySelect    = regexp.MustCompile(`(?i)\bSELECT\s+FROM\b`)
)

// syntaxCheck stands in for BigQuery's parser, which the fake does not
// have: it rejects, with invalidQuery as BigQuery would, statements with an
// unknown leading keyword, an empty select list or an unterminated string
// or identifier — enough for the suite's malformed statements.
func syntaxCheck(q *bqfake.Query) (*bqfake.Result, error) {
	bad := func(msg string) (*bqfake.Result, error) {
		return nil, &bqfake.JobError{Reason: "invalidQuery", Message: "Syntax error: " + msg}
	}
	switch {
	case !leadingKeyword.MatchString(q.SQL):
		return bad("Unexpected keyword at [1:1]")
	case emptySelect.MatchString(q.SQL):
		return bad("SELECT list must not be empty")
	case strings.Count(q.SQL, "'")%2 != 0:
		return bad("Unclosed string literal")
	case strings.Count(q.SQL, "`")%2 != 0:
		return bad("Unclosed identifier literal")
	}
	return nil, nil
}

func newConformanceHarness(t *testing.T) warehousetest.Harness {
	fake := bqfake.New()
	t.Cleanup(fake.Close)
	h := &conformanceHarness{fake: fake}
	fake.SetClock(h.now)
	fake.OnQuery(syntaxCheck)
	w, err := bqw.NewWithConfig(context.Background(), bqw.Config{
		Project: h.Project(),
		Retry:   bqw.RetryPolicy{Attempts: 2, Initial: time.Millisecond},
		Sleep:   func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
	}, fake.ClientOptions()...)
	if err != nil {
		t.Fatalf("NewWithConfig: %v", err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	h.w = w
	return h
}

func TestConformance(t *testing.T) {
	warehousetest.Run(t, newConformanceHarness)
}

// SeedPartitionRows sets a partition's row count in the fake (the suite's
// partition cases run on counts, since the fake evaluates no SQL).
func (h *conformanceHarness) SeedPartitionRows(_ context.Context, ref warehouse.TableRef, partition string, rows int64) error {
	return h.fake.SetPartitionRows(ref, partition, rows)
}
