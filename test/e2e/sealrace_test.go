package e2e

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
)

// TestSealUnderLoad seals and unseals repeatedly while clients read and
// write. Every answer must be a success or 503 (sealed): a request caught
// by the seal may fail, but never with an internal error, and the data
// written before is intact afterwards.
func TestSealUnderLoad(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := context.Background()
	if _, err := s.client.KVv2("secret").Put(ctx, "steady", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	var bad atomic.Int64
	var ok atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := s.as(t, s.root)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if w%2 == 0 {
					_, err = c.KVv2("secret").Get(ctx, "steady")
				} else {
					_, err = c.KVv2("secret").Put(ctx, "w", map[string]any{"i": i})
				}
				switch code := statusOf(err); {
				case err == nil:
					ok.Add(1)
				case code == http.StatusServiceUnavailable:
				default:
					bad.Add(1)
					t.Errorf("worker %d: %v", w, err)
				}
			}
		}()
	}
	for range 10 {
		if err := s.core.Seal(ctx); err != nil {
			t.Fatal(err)
		}
		s.unseal(t)
	}
	close(stop)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d answers were neither success nor sealed", bad.Load())
	}
	if ok.Load() == 0 {
		t.Fatal("no request succeeded between seals")
	}
	got, err := s.client.KVv2("secret").Get(ctx, "steady")
	if err != nil || got.Data["v"] != "1" {
		t.Fatalf("after the storm: %+v %v", got, err)
	}
}
