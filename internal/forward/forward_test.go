package forward_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/cluster"
	"github.com/cofferhq/coffer/internal/forward"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/system"
)

func port(t *testing.T, kr *cluster.Keyring) *cluster.Layer {
	t.Helper()
	l, err := cluster.Listen("127.0.0.1:0", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetKeyring(kr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// TestForwardKeepsClientAndAnswer: the active node's handler sees the
// client's address (not the standby's) and the client gets the active
// node's answer unchanged; echoes reach the active node.
func TestForwardKeepsClientAndAnswer(t *testing.T) {
	kr, err := cluster.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	activePort, standbyPort := port(t, kr), port(t, kr)
	seen := make(chan string, 1)
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.RemoteAddr + " " + r.Method + " " + r.URL.RequestURI()
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Answer", "from-active")
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write(append([]byte("got "), body...))
	})
	echoes := make(chan system.HANode, 1)
	srv := forward.Serve(activePort.Listen(cluster.ProtoForward), forward.Handler(api, func(n system.HANode) { echoes <- n }), nil)
	defer srv.Close()

	c := forward.NewClient(standbyPort, nil)
	defer c.Close()
	req := httptest.NewRequest(http.MethodPut, "/v1/secret/data/x?list=false", strings.NewReader("payload"))
	req.RemoteAddr = "192.0.2.7:4444"
	req.Header.Set("X-Forwarded-For", "203.0.113.9") // already resolved by the listener; not passed on
	rec := httptest.NewRecorder()
	c.Forward(rec, req, httpapi.ActiveNode{ClusterAddr: activePort.Addr()})
	if rec.Code != http.StatusTeapot || rec.Body.String() != "got payload" || rec.Header().Get("X-Answer") != "from-active" {
		t.Fatalf("relayed answer: %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
	if got := <-seen; got != "192.0.2.7:0 PUT /v1/secret/data/x?list=false" {
		t.Fatalf("the active node saw %q", got)
	}

	if err := c.Echo(t.Context(), activePort.Addr(), system.HANode{APIAddr: "https://standby:8200"}); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-echoes:
		if n.APIAddr != "https://standby:8200" {
			t.Fatalf("echo: %+v", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no echo")
	}

	// An unreachable active node is a 503 with an error body, not a hang.
	rec = httptest.NewRecorder()
	c.Forward(rec, httptest.NewRequest(http.MethodGet, "/v1/sys/mounts", nil), httpapi.ActiveNode{ClusterAddr: "127.0.0.1:1"})
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "active node") {
		t.Fatalf("unreachable: %d %s", rec.Code, rec.Body.String())
	}
}
