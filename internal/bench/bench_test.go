package bench

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestRunCountsAndPercentiles(t *testing.T) {
	t.Parallel()
	res := Run(context.Background(), Config{Clients: 4, Duration: 200 * time.Millisecond},
		func(_ context.Context, _ *http.Client, w, seq int) error {
			time.Sleep(time.Millisecond)
			if seq%10 == 9 {
				return errors.New("every tenth fails")
			}
			return nil
		})
	if res.Requests == 0 || res.Errors == 0 {
		t.Fatalf("result %+v", res)
	}
	if res.P50 < time.Millisecond || res.P50 > res.P99 || res.P99 > res.Max {
		t.Fatalf("percentiles out of order: %+v", res)
	}
	if res.RPS() <= 0 {
		t.Fatalf("rps %v", res.RPS())
	}
}
