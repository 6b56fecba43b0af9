//go:build unix

package ledger_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
)

// BenchmarkPartitionWrite measures recording one partition's result, the
// ledger write every worker makes per partition, on the in-memory and the
// file-backed fake (in process, no listener):
//
//   - update: UpdatePartition of an existing record (read + CAS upload);
//   - from: UpdatePartitionFrom with the record the caller holds (CAS
//     upload only, the worker's path);
//   - create: UpdatePartition of a new partition (read miss + create-only
//     upload); the bucket is emptied every 256 creates so the cost measured
//     is that of a small bucket;
//   - update/3650: update in a bucket that also holds 3,650 other partition
//     records (a ten-year daily backfill): the in-memory fake finds an
//     object by scanning the whole bucket.
func BenchmarkPartitionWrite(b *testing.B) {
	done := func(r *ledger.PartitionRecord) error {
		r.State, r.Attempts, r.Rows, r.JobID, r.UpdatedAt = ledger.PartitionDone, r.Attempts+1, 1000, "job", time.Now()
		return nil
	}
	for _, be := range backends {
		for _, op := range []string{"update", "from", "create", "update/3650"} {
			b.Run(be.name+"/"+op, func(b *testing.B) {
				ctx := context.Background()
				open := func(others int) *ledger.Store {
					srv := startServer(b, be.root(b))
					for i := range others {
						srv.CreateObject(fakestorage.Object{
							ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: fmt.Sprintf("backfills/%s/partitions/o%05d.json", bfID, i)},
							Content:     []byte(`{"id":"x","state":"done","attempts":1,"rows":1000}`),
						})
					}
					if others > 0 {
						// Flush the setup's writes, so their writeback does
						// not slow the fsyncs measured.
						syscall.Sync()
					}
					return ledger.New(srv.Client(), bucket)
				}
				others := 0
				if op == "update/3650" {
					others = 3650
				}
				st := open(others)
				cur, err := st.UpdatePartition(ctx, bfID, "20261101", done)
				if err != nil {
					b.Fatal(err)
				}
				i := 0
				for b.Loop() {
					switch op {
					case "update", "update/3650":
						_, err = st.UpdatePartition(ctx, bfID, "20261101", done)
					case "from":
						cur, err = st.UpdatePartitionFrom(ctx, bfID, "20261101", cur, done)
					case "create":
						if i > 0 && i%256 == 0 {
							b.StopTimer()
							st = open(0)
							b.StartTimer()
						}
						_, err = st.UpdatePartition(ctx, bfID, fmt.Sprintf("p%07d", i), done)
					}
					if err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}
