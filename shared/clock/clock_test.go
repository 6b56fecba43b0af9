package clock

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestVirtualSleepsInOrder(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := NewVirtual(start, 0)
	defer v.Close()
	ctx := context.Background()
	var mu sync.Mutex
	var woke []time.Duration
	var wg sync.WaitGroup
	for _, d := range []time.Duration{3 * time.Hour, time.Second, time.Hour} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := v.Sleep(ctx, d); err != nil {
				t.Error(err)
			}
			mu.Lock()
			woke = append(woke, v.Now().Sub(start))
			mu.Unlock()
		}()
	}
	wg.Wait()
	want := []time.Duration{time.Second, time.Hour, 3 * time.Hour}
	for i := range want {
		if woke[i] != want[i] {
			t.Fatalf("woke at %v, want %v", woke, want)
		}
	}
}

func TestVirtualSleepHonoursContext(t *testing.T) {
	v := NewVirtual(time.Unix(0, 0), 0)
	defer v.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := v.Sleep(ctx, time.Hour); err != context.Canceled {
		t.Errorf("Sleep with a cancelled context = %v", err)
	}
	if err := (Real{}).Sleep(ctx, time.Hour); err != context.Canceled {
		t.Errorf("Real.Sleep with a cancelled context = %v", err)
	}
}
