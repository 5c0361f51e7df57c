package e2e

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"
)

// TestAuditFailClosed: with the only audit device failing (a socket
// device whose receiver is gone), a KV write and a login are refused and
// leave nothing behind; with a second, working device, requests go on.
func TestAuditFailClosed(t *testing.T) {
	t.Parallel()
	s := start(t)
	setupUserpass(t, s)
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: every write fails
	accessors := func() int {
		l, err := s.client.Logical().List("auth/token/accessors")
		if err != nil || l == nil {
			t.Fatalf("list accessors: %v", err)
		}
		return len(l.Data["keys"].([]any))
	}
	before := accessors()
	if err := s.client.Sys().EnableAuditWithOptions("down", &api.EnableAuditOptions{Type: "socket", Options: map[string]string{"address": addr, "write_timeout": "1s"}}); err != nil {
		t.Fatalf("enable: %v", err)
	}
	if _, err := s.client.KVv2("secret").Put(ctx, "refused", map[string]any{"v": auditSecret}); err == nil || !strings.Contains(err.Error(), "Code: 500") {
		t.Fatalf("kv put with the only device down: %v", err)
	}
	if l, err := s.as(t, "").Logical().Write("auth/userpass/login/alice", map[string]any{"password": auditPassword}); err == nil || !strings.Contains(err.Error(), "Code: 500") {
		t.Fatalf("login with the only device down: %v %v", l, err)
	}

	// The receiver comes back: requests are served again, and show that
	// the refused ones did nothing.
	back, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	rec := receive(t, back)
	if _, err := s.client.KVv2("secret").Get(ctx, "refused"); err == nil || !strings.Contains(err.Error(), "secret not found") {
		t.Fatalf("the refused write happened: %v", err)
	}
	if n := accessors(); n != before {
		t.Fatalf("the refused login minted a token: %d accessors, %d before", n, before)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(rec.text(), `"path":"secret/data/refused"`); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the device that came back did not record the read")
		}
	}

	// One failing device among working ones does not stop requests.
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln2.Addr().String()
	ln2.Close()
	if err := s.client.Sys().EnableAuditWithOptions("dead", &api.EnableAuditOptions{Type: "socket", Options: map[string]string{"address": dead}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.KVv2("secret").Put(ctx, "served", map[string]any{"v": "x"}); err != nil {
		t.Fatalf("kv put with one device of two down: %v", err)
	}
}
