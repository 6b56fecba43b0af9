package pacing

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/clock"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Tasks that share nothing but the budget start at most Limit+1 operations
// in any window, and use the whole rate between them.
func TestPacersShareTheRateWithoutTalking(t *testing.T) {
	for _, c := range []struct{ tasks, perTask, goroutines int }{{1, 200, 8}, {4, 50, 3}, {10, 20, 2}} {
		v := clock.NewVirtual(time.Date(2026, 1, 1, 0, 0, 0, 123456789, time.UTC), 0)
		start := v.Now()
		var mu sync.Mutex
		var starts []time.Time
		var wg sync.WaitGroup
		for task := range c.tasks {
			p, err := NewPacer(v, Budget{Tasks: c.tasks, Task: task})
			if err != nil {
				t.Fatal(err)
			}
			work := make(chan struct{}, c.perTask)
			for range c.perTask {
				work <- struct{}{}
			}
			close(work)
			for range c.goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range work {
						at, err := p.Wait(context.Background())
						if err != nil {
							t.Error(err)
							return
						}
						if now := v.Now(); now.Before(at) {
							t.Errorf("Wait returned at %v, before its slot %v", now, at)
						}
						mu.Lock()
						starts = append(starts, at)
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		v.Close()
		sort.Slice(starts, func(i, j int) bool { return starts[i].Before(starts[j]) })
		most := 0
		for i := range starts {
			n := sort.Search(len(starts), func(j int) bool { return !starts[j].Before(starts[i].Add(TableRateWindow)) }) - i
			most = max(most, n)
		}
		if most > DefaultLimit+1 {
			t.Errorf("%d tasks: %d operations in one window, want at most %d", c.tasks, most, DefaultLimit+1)
		}
		n := c.tasks * c.perTask
		took := starts[len(starts)-1].Sub(start)
		if ideal := MinDuration(n, Budget{}); took > ideal+time.Second {
			t.Errorf("%d tasks: %d operations took %v, want about %v", c.tasks, n, took, ideal)
		}
	}
}

func TestBudgetRejectsBadTask(t *testing.T) {
	if _, err := NewPacer(clock.Real{}, Budget{Tasks: 2, Task: 2}); err == nil {
		t.Error("task 2 of 2 accepted")
	}
}

func TestBackoff(t *testing.T) {
	rate := warehouse.Errorf(warehouse.Transient, "query", "rateLimitExceeded")
	quota := warehouse.Errorf(warehouse.QuotaExceeded, "copy", "quotaExceeded")
	bad := warehouse.Errorf(warehouse.InvalidArgument, "query", "syntax")
	b := Backoff{Initial: time.Second, Max: 8 * time.Second, QuotaWait: 10 * time.Minute}
	cases := []struct {
		err      error
		attempt  int
		lo, hi   time.Duration
		counts   bool
		retrying bool
	}{
		{rate, 1, 500 * time.Millisecond, time.Second, true, true},
		{rate, 3, 2 * time.Second, 4 * time.Second, true, true},
		{rate, 10, 4 * time.Second, 8 * time.Second, true, true},
		{quota, 1, 10 * time.Minute, 11 * time.Minute, false, true},
		{bad, 1, 0, 0, false, false},
		{errors.New("plain"), 1, 0, 0, false, false},
	}
	for _, c := range cases {
		for range 20 {
			d, counts, ok := b.Wait(c.err, c.attempt)
			if d < c.lo || d > c.hi || counts != c.counts || ok != c.retrying {
				t.Fatalf("Wait(%v, %d) = %v, %v, %v; want [%v, %v], %v, %v", c.err, c.attempt, d, counts, ok, c.lo, c.hi, c.counts, c.retrying)
			}
		}
	}
}

func TestTaskBudget(t *testing.T) {
	cases := []struct {
		env     map[string]string
		want    Budget
		wantErr bool
	}{
		{env: nil, want: Budget{Tasks: 1}},
		{env: map[string]string{"CLOUD_RUN_TASK_COUNT": "8", "CLOUD_RUN_TASK_INDEX": "3"}, want: Budget{Tasks: 8, Task: 3}},
		{env: map[string]string{"CLOUD_RUN_TASK_COUNT": "8", "CLOUD_RUN_TASK_INDEX": "8"}, wantErr: true},
		{env: map[string]string{"CLOUD_RUN_TASK_COUNT": "x", "CLOUD_RUN_TASK_INDEX": "0"}, wantErr: true},
		{env: map[string]string{"CLOUD_RUN_TASK_INDEX": "3"}, wantErr: true},
		{env: map[string]string{"CLOUD_RUN_TASK_COUNT": "8"}, wantErr: true},
	}
	for _, c := range cases {
		got, err := TaskBudget(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
		if (err != nil) != c.wantErr || (!c.wantErr && got != c.want) {
			t.Errorf("TaskBudget(%v) = %+v, %v; want %+v (error %v)", c.env, got, err, c.want, c.wantErr)
		}
	}
}

// A table only the backfill writes (staging) gets OwnLimit slots per
// window, a table others write too (production) Limit; each has its own
// slots.
func TestTablesOwnLimit(t *testing.T) {
	v := clock.NewVirtual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0)
	defer v.Close()
	ts := &Tables{Clock: v}
	prod := warehouse.TableRef{Project: "p", Dataset: "d", Table: "prod"}
	staging := warehouse.TableRef{Project: "p", Dataset: "staging", Table: "prod_2026_01_01"}
	for _, c := range []struct {
		name string
		wait func(context.Context, warehouse.TableRef) error
		t    warehouse.TableRef
		want int
	}{
		{"production", ts.Wait, prod, DefaultLimit},
		{"staging", ts.WaitOwn, staging, DefaultOwnLimit},
	} {
		start := v.Now()
		for range 3 * c.want {
			if err := c.wait(context.Background(), c.t); err != nil {
				t.Fatal(err)
			}
		}
		// 3 windows' worth of slots, the first at start (rounded up to a
		// slot): they end within the third window.
		if took := v.Now().Sub(start); took >= 3*TableRateWindow || took < 3*TableRateWindow-2*TableRateWindow/time.Duration(c.want) {
			t.Errorf("%s: %d operations took %v of the clock, want %d per %v", c.name, 3*c.want, took, c.want, TableRateWindow)
		}
	}
}
