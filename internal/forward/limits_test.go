package forward_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/cluster"
	"github.com/cofferhq/coffer/internal/forward"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/system"
)

// standbyCore is a core that stands by for the node at clusterAddr.
type standbyCore struct{ clusterAddr string }

func (standbyCore) HandleRequest(context.Context, *logical.Request) (*logical.Response, error) {
	return nil, errors.New("a standby must forward, not handle")
}

func (s standbyCore) ActiveNode() (string, string, bool) { return "", s.clusterAddr, true }

// standbyListener is a standby's client listener (MaxRequestSize 1 KiB,
// a 300 ms read timeout) forwarding to an active node whose API handler
// records the bodies it received in full.
func standbyListener(t *testing.T) (string, <-chan int) {
	t.Helper()
	kr, err := cluster.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	activePort, standbyPort := port(t, kr), port(t, kr)
	got := make(chan int, 16)
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err == nil {
			got <- len(body)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := forward.Serve(activePort.Listen(cluster.ProtoForward), forward.Handler(api, func(system.HANode) {}), nil)
	t.Cleanup(func() { _ = srv.Close() })
	c := forward.NewClient(standbyPort, nil)
	t.Cleanup(c.Close)
	h := httpapi.New(standbyCore{activePort.Addr()}, httpapi.Options{MaxRequestSize: 1024, Forwarder: c})
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ReadTimeout = 300 * time.Millisecond
	ts.Start()
	t.Cleanup(ts.Close)
	return ts.URL, got
}

// TestForwardKeepsListenerLimits: the active node reads forwarded requests
// with its defaults (32 MiB), so the standby enforces its own listener's
// max_request_size, whether the client declares the length or streams
// chunks, and gives a streamed snapshot upload its long read deadline
// rather than the listener's read timeout (ATTACK10: a standby with
// max_request_size = 2048 forwarded 100 KB; a snapshot upload through a
// standby failed after 30 s with "could not reach the active node").
func TestForwardKeepsListenerLimits(t *testing.T) {
	url, got := standbyListener(t)
	post := func(path string, body io.Reader) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, url+path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Vault-Token", "t")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	big := strings.Repeat("A", 4096)
	if code, body := post("/v1/secret/data/x", strings.NewReader(big)); code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "the limit is 1024 bytes") {
		t.Fatalf("declared 4 KiB through a 1 KiB listener: %d %s", code, body)
	}
	// A chunked body (no declared length) is cut off at the limit.
	if code, body := post("/v1/secret/data/x", io.MultiReader(strings.NewReader(big))); code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "the limit is 1024 bytes") {
		t.Fatalf("chunked 4 KiB through a 1 KiB listener: %d %s", code, body)
	}
	if code, body := post("/v1/secret/data/x", strings.NewReader(`{"data":{"a":"b"}}`)); code != http.StatusNoContent {
		t.Fatalf("small body: %d %s", code, body)
	}
	if n := <-got; n != len(`{"data":{"a":"b"}}`) {
		t.Fatalf("the active node got a %d-byte body, want only the small one", n)
	}

	// A snapshot that takes longer than the read timeout to arrive, and is
	// larger than max_request_size (max_snapshot_size bounds it instead).
	pr, pw := io.Pipe()
	go func() {
		for range 8 {
			time.Sleep(100 * time.Millisecond)
			_, _ = pw.Write([]byte(big))
		}
		_ = pw.Close()
	}()
	if code, body := post("/v1/sys/storage/raft/snapshot", pr); code != http.StatusNoContent {
		t.Fatalf("slow snapshot upload through the standby: %d %s", code, body)
	}
	select {
	case n := <-got:
		if n != 8*len(big) {
			t.Fatalf("the active node got %d snapshot bytes, want %d", n, 8*len(big))
		}
	default:
		t.Fatal("the snapshot did not reach the active node")
	}
}
