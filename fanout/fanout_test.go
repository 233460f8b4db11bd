package fanout

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
)

func TestEach(t *testing.T) {
	tests := []struct {
		name     string
		items    int
		parallel int
		cancel   bool
	}{
		{"one at a time", 5, 1, false},
		{"bounded", 40, 4, false},
		{"parallel below 1 counts as 1", 3, 0, false},
		{"cancelled before any starts", 6, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := make([]int, tt.items)
			for i := range items {
				items[i] = i
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var running, peak atomic.Int32
			if tt.cancel {
				cancel()
			}
			var progressed []int
			got := Each(ctx, items, tt.parallel, func(i int) int {
				n := running.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				for range 100 {
					runtime.Gosched() // overlap with the others
				}
				running.Add(-1)
				return i * 10
			}, func(i int, err error) int {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("cancelled with %v", err)
				}
				return -1
			}, func(done, total int, r int) { progressed = append(progressed, done) })
			want := max(tt.parallel, 1)
			if int(peak.Load()) > want {
				t.Errorf("%d ran at once, want at most %d", peak.Load(), want)
			}
			for i, r := range got {
				if tt.cancel {
					// A slot may still be free when ctx is already done:
					// either outcome is right for that item.
					if r != -1 && r != i*10 {
						t.Errorf("result %d = %d", i, r)
					}
					continue
				}
				if r != i*10 {
					t.Errorf("result %d = %d, want %d (order kept)", i, r, i*10)
				}
			}
			if !tt.cancel && len(progressed) != tt.items {
				t.Errorf("progress called %d times, want %d", len(progressed), tt.items)
			}
		})
	}
}
