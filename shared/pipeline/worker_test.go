package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"google.golang.org/api/googleapi"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/queue"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

// specUnavailable fails every read of a spec as GCS does when it is
// unavailable.
type specUnavailable struct{ pipeline.Ledger }

func (specUnavailable) Spec(_ context.Context, id string) (json.RawMessage, error) {
	return nil, fmt.Errorf("read spec of %s: %w", id, &googleapi.Error{Code: http.StatusServiceUnavailable, Message: "backend unavailable"})
}

// A worker that cannot read the spec gives the message back instead of
// dropping it: the redelivery computes the partition.
func TestWorkerNacksUnreadableSpec(t *testing.T) {
	e := newContractEnv(t)
	m := firstPartition(t, e)
	pipeline.ForgetSpecs()
	e.p.Ledger = specUnavailable{e.led}
	if out := e.p.HandlePartition(e.ctx, m, nil); out != queue.Nack {
		t.Fatalf("with the spec unreadable: outcome %v, want nack (redelivery)", out)
	}
	e.p.Ledger = e.led
	m.DeliveryAttempt = 2
	if out := e.p.HandlePartition(e.ctx, m, nil); out != queue.Ack {
		t.Fatalf("redelivery: outcome %v, want ack", out)
	}
	r, err := e.led.GetPartition(e.ctx, contractID, m.Attributes["partition"])
	if err != nil || r.State != ledger.PartitionDone {
		t.Errorf("partition after the redelivery: %+v, %v; want done", r, err)
	}
}

// One retry layer: a partition whose query fails transiently is given back
// after one job, for Pub/Sub to redeliver after the subscription's
// backoff; neither the driver nor the pipeline re-runs it within the
// delivery (retries would multiply: 5 × 4 × 5 jobs before).
func TestWorkerTransientFailureOneJobPerDelivery(t *testing.T) {
	e := newContractEnv(t)
	m := firstPartition(t, e)
	part := m.Attributes["partition"]
	e.fake.FailJobs(bqfake.JobFault{Type: "QUERY", Table: "$" + part, Reason: "backendError", Times: 100})
	e.fake.ResetRequests()
	if out := e.p.HandlePartition(e.ctx, m, nil); out != queue.Nack {
		t.Fatalf("outcome %v, want nack (redelivery)", out)
	}
	if n := len(e.fake.RequestsFor("jobs.insert")); n != 1 {
		t.Errorf("%d jobs inserted in one delivery, want 1", n)
	}
}
