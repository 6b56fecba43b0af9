package gcp_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"cloud.google.com/go/pubsub/v2/pstest"
	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
	"github.com/bqbackfill/bqbackfill/shared/gcp"
	"github.com/bqbackfill/bqbackfill/shared/iamcheck"
	"github.com/bqbackfill/bqbackfill/shared/pacing"
	bqw "github.com/bqbackfill/bqbackfill/shared/warehouse/bigquery"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

// clients are clients of in-process servers, for Assemble.
func clients(t *testing.T) gcp.Clients {
	t.Helper()
	ctx := context.Background()
	gcs, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gcs.Stop)
	st, err := iamcheck.Storage(ctx, gcs.HTTPClient().Transport, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	ps := pstest.NewServer()
	t.Cleanup(func() { ps.Close() })
	psc, err := iamcheck.PubSub(ctx, ps.Addr, "p", nil, "")
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	fake := bqfake.New()
	t.Cleanup(fake.Close)
	w, err := bqw.New(ctx, "p", fake.ClientOptions()...)
	if err != nil {
		st.Close()
		psc.Close()
		t.Fatal(err)
	}
	return gcp.Clients{Storage: st, PubSub: psc, Warehouse: w}
}

// Assemble reads the task budget through the lookup it is given, as
// every other variable is read (the deployment twin and the functions'
// tests inject theirs), not from the process's environment.
func TestAssembleReadsTaskBudgetThroughLookup(t *testing.T) {
	// The process's own variables must not be what Assemble reads.
	t.Setenv("CLOUD_RUN_TASK_COUNT", "2")
	t.Setenv("CLOUD_RUN_TASK_INDEX", "1")
	env := cloudenv.Env{Project: "p", LedgerBucket: "ledger", SQLBucket: "sql"}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range []struct {
		name    string
		vars    map[string]string
		want    pacing.Budget
		wantErr string
	}{
		{"one task of eight", map[string]string{"CLOUD_RUN_TASK_COUNT": "8", "CLOUD_RUN_TASK_INDEX": "3"}, pacing.Budget{Tasks: 8, Task: 3}, ""},
		{"not a Cloud Run task", map[string]string{}, pacing.Budget{Tasks: 1}, ""},
		{"index out of range", map[string]string{"CLOUD_RUN_TASK_COUNT": "8", "CLOUD_RUN_TASK_INDEX": "8"}, pacing.Budget{}, "CLOUD_RUN_TASK_INDEX"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lookup := func(name string) (string, bool) { v, ok := tt.vars[name]; return v, ok }
			st, err := gcp.Assemble(env, lookup, logger, gcp.Options{}, clients(t))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Assemble: %v, want an error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			tables, ok := st.Pipeline.Pacer.(*pacing.Tables)
			if !ok {
				t.Fatalf("Pacer is %T, want *pacing.Tables", st.Pipeline.Pacer)
			}
			if tables.Budget != tt.want {
				t.Errorf("budget %+v, want %+v", tables.Budget, tt.want)
			}
		})
	}
}
