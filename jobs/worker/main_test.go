package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
)

// The worker reads no variable beyond cloudenv's, Cloud Run's and
// cloudenv.WorkerReads: terraform/ sets what WorkerReads lists.
func TestConfigReadsWorkerReads(t *testing.T) {
	var read []string
	configFromEnv(func(name string) (string, bool) {
		if !slices.Contains(read, name) {
			read = append(read, name)
		}
		if slices.Contains(cloudenv.WorkerNeeds, name) {
			return "x", true // past the requirement check, to the worker's own variables
		}
		return "", false
	})
	for _, name := range read {
		if !slices.Contains(cloudenv.Vars, name) && !strings.HasPrefix(name, "CLOUD_RUN_") && !slices.Contains(cloudenv.WorkerReads, name) {
			t.Errorf("the worker reads %s, which cloudenv.WorkerReads does not list", name)
		}
	}
	for _, name := range cloudenv.WorkerReads {
		if !slices.Contains(read, name) {
			t.Errorf("cloudenv.WorkerReads lists %s, which the worker does not read", name)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	base := map[string]string{
		"BQBACKFILL_PROJECT": "p", "BQBACKFILL_LEDGER_BUCKET": "l", "BQBACKFILL_SQL_BUCKET": "s",
		"BQBACKFILL_PARTITIONS_TOPIC": "backfill-partitions", "BQBACKFILL_PARTITIONS_SUBSCRIPTION": "backfill-partitions-worker",
		"BQBACKFILL_EVENTS_TOPIC": "backfill-events", "BQBACKFILL_DEAD_LETTER_TOPIC": "backfill-dead-letter",
	}
	with := func(kv ...string) func(string) (string, bool) {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "<unset>" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	for _, tc := range []struct {
		name    string
		lookup  func(string) (string, bool)
		wantErr string
		check   func(config) bool
	}{
		{"defaults", with(), "", func(c config) bool { return c.taskCount == 1 && c.concurrency == 1 && c.idle == 15*time.Second }},
		{"cloud run task variables", with("CLOUD_RUN_TASK_INDEX", "3", "CLOUD_RUN_TASK_COUNT", "8", "CLOUD_RUN_TASK_ATTEMPT", "1", "CLOUD_RUN_EXECUTION", "ex-1"), "",
			func(c config) bool {
				return c.taskIndex == 3 && c.taskCount == 8 && c.attempt == 1 && c.execution == "ex-1"
			}},
		{"tuning", with(cloudenv.VarWorkerConcurrency, "4", cloudenv.VarWorkerIdleTimeout, "2s"), "", func(c config) bool { return c.concurrency == 4 && c.idle == 2*time.Second }},
		{"bad index", with("CLOUD_RUN_TASK_INDEX", "x", "CLOUD_RUN_TASK_COUNT", "8"), "CLOUD_RUN_TASK_INDEX", nil},
		{"index beyond count", with("CLOUD_RUN_TASK_INDEX", "8", "CLOUD_RUN_TASK_COUNT", "8"), "CLOUD_RUN_TASK_INDEX=\"8\" is not in [0, 8)", nil},
		{"bad count", with("CLOUD_RUN_TASK_INDEX", "0", "CLOUD_RUN_TASK_COUNT", "0"), "CLOUD_RUN_TASK_COUNT", nil},
		{"index without count", with("CLOUD_RUN_TASK_INDEX", "x"), "CLOUD_RUN_TASK_INDEX is set but CLOUD_RUN_TASK_COUNT is not", nil},
		{"bad idle", with(cloudenv.VarWorkerIdleTimeout, "-1s"), cloudenv.VarWorkerIdleTimeout, nil},
		{"zero concurrency", with(cloudenv.VarWorkerConcurrency, "0"), cloudenv.VarWorkerConcurrency, nil},
		{"missing subscription", with("BQBACKFILL_LEDGER_BUCKET", "<unset>"), "BQBACKFILL_LEDGER_BUCKET is not set", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := configFromEnv(tc.lookup)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("config = %+v", c)
			}
		})
	}
}
