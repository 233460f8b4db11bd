// Package fanout runs one piece of work per item, a bounded number at once:
// the shape of every "do this to each node" (reboot over SSH, BMC power),
// where one slow node must hold up only its own slot.
package fanout

import (
	"context"
	"sync"
)

// Each runs do for every item, at most parallel at once, and returns the
// results in the order of items. An item whose turn has not come when ctx
// ends gets cancelled(item, ctx.Err()) instead. progress, when set, is
// called from one goroutine at a time as each do finishes.
func Each[T, R any](ctx context.Context, items []T, parallel int, do func(T) R,
	cancelled func(T, error) R, progress func(done, total int, r R)) []R {
	results := make([]R, len(items))
	sem := make(chan struct{}, max(parallel, 1))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done int
	)
	for i, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = cancelled(it, ctx.Err())
				return
			}
			r := do(it)
			<-sem
			results[i] = r
			if progress != nil {
				mu.Lock()
				done++
				progress(done, len(items), r)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return results
}
