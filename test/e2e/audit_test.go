package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"
)

// Distinctive values that must never reach an audit device in the clear.
const (
	auditSecret   = "s3cret-value-7f1c2a9e"
	auditPassword = "pa55word-d41d8cd9"
)

// lineReceiver accepts connections on ln and keeps every line received:
// the real receiving end of a socket audit device.
type lineReceiver struct {
	mu    sync.Mutex
	lines []string
}

func receive(t *testing.T, ln net.Listener) *lineReceiver {
	r := &lineReceiver{}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				sc.Buffer(make([]byte, 1<<20), 1<<20)
				for sc.Scan() {
					r.mu.Lock()
					r.lines = append(r.lines, sc.Text())
					r.mu.Unlock()
				}
			}()
		}
	}()
	return r
}

// receiveDatagrams keeps every datagram received on c as a line.
func receiveDatagrams(t *testing.T, c *net.UnixConn) *lineReceiver {
	r := &lineReceiver{}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1<<16)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			r.mu.Lock()
			r.lines = append(r.lines, strings.TrimSuffix(string(buf[:n]), "\n"))
			r.mu.Unlock()
		}
	}()
	return r
}

// await waits until the receiver has the login's response line (the last
// one written: it holds the HMAC of the login token), then returns all.
func (r *lineReceiver) await(t *testing.T, s *server, device, loginToken string) string {
	t.Helper()
	h, err := s.client.Sys().AuditHash(device, loginToken)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if text := r.text(); strings.Contains(text, h) {
			return text
		}
	}
	t.Fatalf("the %s receiver never got the login's response", device)
	return ""
}

func (r *lineReceiver) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

// auditWorkload sets up userpass, then writes a secret, reads it and logs
// in, returning the login's token.
func auditWorkload(t *testing.T, s *server) string {
	t.Helper()
	ctx := context.Background()
	if _, err := s.client.KVv2("secret").Put(ctx, "app/db", map[string]any{"password": auditSecret}); err != nil {
		t.Fatalf("kv put: %v", err)
	}
	if got, err := s.client.KVv2("secret").Get(ctx, "app/db"); err != nil || got.Data["password"] != auditSecret {
		t.Fatalf("kv get: %v %v", got, err)
	}
	login, err := s.as(t, "").Logical().Write("auth/userpass/login/alice", map[string]any{"password": auditPassword})
	if err != nil || login.Auth == nil {
		t.Fatalf("login: %v %v", login, err)
	}
	return login.Auth.ClientToken
}

func setupUserpass(t *testing.T, s *server) {
	t.Helper()
	if err := s.client.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Logical().Write("auth/userpass/users/alice", map[string]any{"password": auditPassword}); err != nil {
		t.Fatal(err)
	}
}

// checkAuditLog asserts that log holds no secret in the clear and holds
// the HMAC of each, as sys/audit-hash reports it for device.
func checkAuditLog(t *testing.T, s *server, device, log string, loginToken string) {
	t.Helper()
	for name, v := range map[string]string{"secret value": auditSecret, "root token": s.root, "userpass password": auditPassword, "login token": loginToken} {
		if strings.Contains(log, v) {
			t.Errorf("the %s appears in the clear in the %s log", name, device)
		}
		h, err := s.client.Sys().AuditHash(device, v)
		if err != nil || !strings.HasPrefix(h, "hmac-sha256:") {
			t.Fatalf("audit-hash: %q %v", h, err)
		}
		if !strings.Contains(log, h) {
			t.Errorf("the %s's audit-hash %s is not in the %s log", name, h, device)
		}
	}
	var types []string
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		var e struct {
			Type    string `json:"type"`
			Request struct {
				Path      string `json:"path"`
				Operation string `json:"operation"`
			} `json:"request"`
		}
		if err := json.Unmarshal([]byte(l[strings.IndexByte(l, '{'):]), &e); err != nil {
			t.Fatalf("%s log line is not JSON: %v: %s", device, err, l)
		}
		if e.Request.Path == "auth/userpass/login/alice" {
			types = append(types, e.Type)
		}
	}
	if strings.Join(types, ",") != "request,response" {
		t.Errorf("%s log: the login's lines are %v, want a request and a response", device, types)
	}
}

// TestAuditDevices enables one device of each type against a real
// receiver (a file, a loopback TCP listener, a unix socket listener) and
// checks what each one recorded.
func TestAuditDevices(t *testing.T) {
	t.Parallel()
	s := start(t)
	setupUserpass(t, s)
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.log")
	tcpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unixLn, err := net.Listen("unix", filepath.Join(dir, "audit.sock"))
	if err != nil {
		t.Fatal(err)
	}
	tcp, unix := receive(t, tcpLn), receive(t, unixLn)
	// No syslog daemon runs here: the syslog device sends to a unixgram
	// listener instead of /dev/log, the same protocol.
	syslogConn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "syslog.sock"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	syslogRec := receiveDatagrams(t, syslogConn)
	devices := map[string]*api.EnableAuditOptions{
		"file": {Type: "file", Options: map[string]string{"file_path": file}},
		"tcp":  {Type: "socket", Description: "to a collector", Options: map[string]string{"address": tcpLn.Addr().String(), "socket_type": "tcp"}},
		"unix": {Type: "socket", Options: map[string]string{"address": unixLn.Addr().String(), "socket_type": "unix", "write_timeout": "1s"}},
		"syslog": {Type: "syslog", Options: map[string]string{"address": syslogConn.LocalAddr().String(), "socket_type": "unixgram",
			"facility": "local0", "tag": "coffer-audit"}},
	}
	for path, o := range devices {
		if err := s.client.Sys().EnableAuditWithOptions(path, o); err != nil {
			t.Fatalf("enable %s: %v", path, err)
		}
	}
	list, err := s.client.Sys().ListAudit()
	if err != nil || len(list) != 4 || list["tcp/"] == nil || list["tcp/"].Type != "socket" || list["tcp/"].Description != "to a collector" || list["file/"].Options["file_path"] != file {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := s.client.Sys().EnableAuditWithOptions("file", devices["file"]); err == nil {
		t.Fatal("a second device at file/ was accepted")
	}
	if err := s.client.Sys().EnableAuditWithOptions("bad", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": file, "colour": "red"}}); err == nil || !strings.Contains(err.Error(), "Code: 400") {
		t.Fatalf("unknown option: %v", err)
	}
	token := auditWorkload(t, s)

	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("audit file mode %v, want 0600", fi.Mode().Perm())
	}
	checkAuditLog(t, s, "file", string(raw), token)
	checkAuditLog(t, s, "tcp", tcp.await(t, s, "tcp", token), token)
	checkAuditLog(t, s, "unix", unix.await(t, s, "unix", token), token)
	sys := syslogRec.await(t, s, "syslog", token)
	if !strings.Contains(sys, "coffer-audit[") || !strings.HasPrefix(sys, "<134>") { // local0.info
		t.Errorf("syslog messages: %.200s", sys)
	}
	checkAuditLog(t, s, "syslog", sys, token)

	if err := s.client.Sys().DisableAudit("tcp"); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.client.Sys().ListAudit(); len(list) != 3 || list["tcp/"] != nil {
		t.Fatalf("after disable: %+v", list)
	}
	// A token without sudo may not list or enable devices.
	if _, err := s.as(t, token).Sys().ListAudit(); err == nil || !strings.Contains(err.Error(), "Code: 403") {
		t.Fatalf("list without sudo: %v", err)
	}
}
