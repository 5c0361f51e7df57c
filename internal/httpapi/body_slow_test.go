package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// quiet answers every request with 204 and is safe for concurrent use.
type quiet struct{}

func (quiet) HandleRequest(context.Context, *logical.Request) (*logical.Response, error) {
	return nil, nil
}

// stalled sends part of a body declared (or chunked) larger, then waits.
type stalled struct {
	pw   *io.PipeWriter
	done chan struct{}
	w    *httptest.ResponseRecorder
}

func startStalled(t *testing.T, h http.Handler, declared int64, send int) *stalled {
	t.Helper()
	pr, pw := io.Pipe()
	req := httptest.NewRequest("PUT", "/v1/auth/userpass/login/u", pr)
	req.ContentLength = declared
	s := &stalled{pw: pw, done: make(chan struct{}), w: httptest.NewRecorder()}
	go func() { h.ServeHTTP(s.w, req); close(s.done) }()
	if _, err := pw.Write(append([]byte(`{"password":"`), bytes.Repeat([]byte("x"), send)...)); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSlowBodyHoldsWhatItSent: a client that declares a large body (or
// sends one chunked) and then trickles it holds about what it has sent,
// not its declared size or the cap, so slow senders cannot take the budget
// from others (issue 5, item 4's seam).
func TestSlowBodyHoldsWhatItSent(t *testing.T) {
	t.Parallel()
	const budget = TokenlessShare << 20 // a token-less share of 1 MiB
	b := NewBodyBudget(budget, nil)
	h := New(quiet{}, Options{MaxRequestSize: budget, Bodies: b})
	var slow []*stalled
	for i := range 8 { // 8 declared MiB against a 1 MiB share
		declared := b.TokenlessReadSize()
		if i%2 == 1 {
			declared = -1
		}
		slow = append(slow, startStalled(t, h, declared, 1000))
	}
	body := `{"data":"` + strings.Repeat("y", 256<<10) + `"}`
	req := httptest.NewRequest("PUT", "/v1/auth/userpass/login/v", strings.NewReader(body))
	w := httptest.NewRecorder()
	served := make(chan struct{})
	go func() { h.ServeHTTP(w, req); close(served) }()
	select {
	case <-served:
	case <-time.After(20 * time.Second):
		t.Fatal("a 256 KiB body waited behind eight stalled senders that had sent 1 KB each")
	}
	if w.Code != http.StatusNoContent {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	for _, s := range slow {
		s.pw.CloseWithError(io.ErrUnexpectedEOF)
		<-s.done
	}
	if !b.read.TryAcquire(budget) || !b.tokenless.TryAcquire(b.TokenlessReadSize()) {
		t.Fatal("the budget was not given back after the stalled senders went away")
	}
}

// TestPartlyReadBodiesGiveUp: bodies that have started arriving and need
// more budget than is left do not wait on each other for ever: after
// growWait they are refused with a 503 that says to retry.
func TestPartlyReadBodiesGiveUp(t *testing.T) {
	old := growWait
	growWait = 200 * time.Millisecond
	t.Cleanup(func() { growWait = old })
	const budget = TokenlessShare * (256 << 10) // a token-less share of 256 KiB
	b := NewBodyBudget(budget, nil)
	h := New(quiet{}, Options{MaxRequestSize: budget, Bodies: b})
	var wg sync.WaitGroup
	var ws []*stalled
	for range 2 { // each holds 128 KiB and needs 200 KiB
		s := startStalled(t, h, 200<<10, 100<<10)
		ws = append(ws, s)
	}
	for _, s := range ws {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = s.pw.Write(bytes.Repeat([]byte("x"), 50<<10)) }()
	}
	// One of them gives up; the other then has the budget it needs and
	// waits for the rest of its body, which is then cut off.
	select {
	case <-ws[0].done:
	case <-ws[1].done:
	case <-time.After(20 * time.Second):
		t.Fatal("two partly read bodies waited on each other")
	}
	busy := 0
	for _, s := range ws {
		s.pw.CloseWithError(io.ErrUnexpectedEOF)
		<-s.done
		if s.w.Code == http.StatusServiceUnavailable && strings.Contains(s.w.Body.String(), "retry shortly") {
			busy++
		}
	}
	wg.Wait()
	if busy == 0 {
		t.Fatalf("neither body was refused as busy: %d %s / %d %s", ws[0].w.Code, ws[0].w.Body, ws[1].w.Code, ws[1].w.Body)
	}
	if !b.read.TryAcquire(budget) {
		t.Fatal("the budget was not given back")
	}
	b.read.Release(budget)
}

// TestTokenlessSendersLeaveRoom: connections without a token that declare
// a body, send a little of it and stall hold at most the token-less share
// of the budget between them, so a write with a token goes through while
// they wait. Before the share, 16 of them each holding the 64 KiB first
// buffer took a 1 MiB budget and stalled every write until the server's
// read timeout; an attacker could repeat that for ever without a token.
func TestTokenlessSendersLeaveRoom(t *testing.T) {
	t.Parallel()
	const budget = 1 << 20
	b := NewBodyBudget(budget, nil)
	srv := httptest.NewServer(New(quiet{}, Options{MaxRequestSize: budget, Bodies: b}))
	defer srv.Close()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 64 {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		head := fmt.Sprintf("PUT /v1/auth/userpass/login/u%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", i, b.TokenlessReadSize())
		// Written by a goroutine: once the share is taken the server stops
		// reading, and a blocked write must not stall the test.
		go func() { _, _ = c.Write(append([]byte(head+`{"password":"`), bytes.Repeat([]byte("x"), 40<<10)...)) }()
	}
	body := `{"data":"` + strings.Repeat("y", 512<<10) + `"}`
	req, err := http.NewRequest("PUT", srv.URL+"/v1/secret/data/x", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", "some-token")
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("a 512 KiB write with a token behind 64 stalled token-less senders: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
