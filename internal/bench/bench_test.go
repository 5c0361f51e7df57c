package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

func TestRunCountsAndPercentiles(t *testing.T) {
	t.Parallel()
	res := Run(context.Background(), Config{Clients: 4, Duration: 200 * time.Millisecond},
		func(_ context.Context, _ *http.Client, w, seq int) error {
			time.Sleep(time.Millisecond)
			if seq%3 == 2 {
				return errors.New("every third fails")
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

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		stat    string
		want    time.Duration
		wantErr bool
	}{
		"plain":                  {stat: "4242 (coffer) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 100 0 0", want: 3250 * time.Millisecond},
		"name with ) and spaces": {stat: "7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 1 0 0", want: 30 * time.Millisecond},
		"no name":                {stat: "7 R 1", wantErr: true},
		"short":                  {stat: "7 (x) R 1 2 3", wantErr: true},
		"negative":               {stat: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 -1 2 0 0", wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseProcStat([]byte(tc.stat))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("ParseProcStat = %v, %v; want %v (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestCPUSamplersMove(t *testing.T) {
	t.Parallel()
	self := ProcCPU(os.Getpid())
	if _, err := self(); err != nil {
		t.Fatalf("own /proc stat: %v", err)
	}
	res := Run(context.Background(), Config{Clients: 2, Duration: 300 * time.Millisecond, CPU: SelfCPU},
		func(context.Context, *http.Client, int, int) error {
			x := 0
			for i := range 100000 {
				x += i
			}
			_ = x
			return nil
		})
	if res.CPU <= 0 || res.CPUPerOp() <= 0 {
		t.Fatalf("busy loop measured no CPU: %+v", res)
	}
}

func TestFixedHandlerServesBody(t *testing.T) {
	t.Parallel()
	body := []byte(`{"data":"xyz"}`)
	srv := httptest.NewServer(FixedHandler(body))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/anything")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if !bytes.Equal(got, body) || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %q (%s)", got, resp.Header.Get("Content-Type"))
	}
}

func TestBoltBatchWritesKeys(t *testing.T) {
	t.Parallel()
	op, closeDB, err := BoltBatch(t.TempDir(), 8, 32)
	if err != nil {
		t.Fatal(err)
	}
	res := Run(context.Background(), Config{Clients: 4, Duration: 200 * time.Millisecond}, op)
	if err := closeDB(); err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Errors != 0 {
		t.Fatalf("result %+v", res)
	}
	if _, _, err := BoltBatch(t.TempDir(), 0, 32); err == nil {
		t.Fatal("0 keys accepted")
	}
}
