package audit

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// TestBrokerFailsClosed: a declared device whose directory is missing
// cannot be opened, so every request is refused (ErrAllDevicesFailed)
// until the directory exists and a SIGHUP (Reopen) opens it.
func TestBrokerFailsClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "later")
	file := filepath.Join(dir, "audit.log")
	b, err := Open(ctx, BrokerConfig{Storage: logical.NewInmemStorage(), Declared: []Config{{Path: "main", Type: "file", Options: map[string]string{"file_path": file}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	in := &Input{Request: &logical.Request{ID: "1", Operation: logical.ReadOperation, Path: "secret/data/x"}}
	if err := b.LogRequest(ctx, in); !errors.Is(err, ErrAllDevicesFailed) {
		t.Fatalf("with the only device broken: %v", err)
	}
	if n := b.Failures()["main/"]; n != 1 {
		t.Fatalf("failures counted: %d", n)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	b.Reopen(ctx)
	if err := b.LogRequest(ctx, in); err != nil {
		t.Fatalf("after the reopen: %v", err)
	}
	// A second device may not write into the same file: two chains in
	// one file could not be verified.
	err = b.Enable(ctx, Config{Path: "again", Type: "file", Options: map[string]string{"file_path": file + "/."}})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "already writes to that file") {
		t.Fatalf("same file twice: %v", err)
	}
	if err := b.Disable(ctx, "main"); !errors.Is(err, ErrAPIDisabled) {
		t.Fatalf("disabling a declared device: %v", err)
	}
}

// TestAuditedHeaders: the audited headers survive a new broker on the same
// storage, reach every line lower-cased (HMAC'd when configured so), and
// the token headers and non-names are refused.
func TestAuditedHeaders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	storage := logical.NewInmemStorage()
	file := filepath.Join(t.TempDir(), "audit.log")
	b, err := Open(ctx, BrokerConfig{Storage: storage})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"X-Request-Id", "X-Api-Key"} {
		if err := b.SetAuditedHeader(ctx, h, h == "X-Api-Key"); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []string{"Authorization", "x-vault-token", "", "a b", "é"} {
		if err := b.SetAuditedHeader(ctx, bad, false); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	b.Close()
	b, err = Open(ctx, BrokerConfig{Storage: storage})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := b.AuditedHeaders(); len(got) != 2 || got["x-request-id"] || !got["x-api-key"] {
		t.Fatalf("after reopening: %v", got)
	}
	if err := b.Enable(ctx, Config{Path: "f", Type: "file", Options: map[string]string{"file_path": file}}); err != nil {
		t.Fatal(err)
	}
	in := &Input{Request: &logical.Request{Operation: logical.ReadOperation, Path: "x",
		Headers: http.Header{"X-Request-Id": {"id-1", "id-2"}, "X-Api-Key": {"k3y"}, "X-Other": {"no"}}}}
	if err := b.LogRequest(ctx, in); err != nil {
		t.Fatal(err)
	}
	h, _ := b.Hash("f", "k3y")
	log, _ := os.ReadFile(file)
	if want := `"headers":{"x-api-key":["` + h + `"],"x-request-id":["id-1","id-2"]}`; !strings.Contains(string(log), want) {
		t.Errorf("no %s in %s", want, log)
	}
	if err := b.DeleteAuditedHeader(ctx, "X-API-KEY"); err != nil || len(b.AuditedHeaders()) != 1 {
		t.Fatalf("delete: %v %v", err, b.AuditedHeaders())
	}
}

// BenchmarkBrokerFileParallel logs a KV read's two lines on a chained file
// device from 16 goroutines that also do some work of their own between
// the lines, as requests do; it reports how many lines share a write.
func BenchmarkBrokerFileParallel(b *testing.B) {
	ctx := context.Background()
	br, err := Open(ctx, BrokerConfig{Storage: logical.NewInmemStorage()})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	if err := br.Enable(ctx, Config{Path: "f", Type: "file", Options: map[string]string{"file_path": filepath.Join(b.TempDir(), "a.log")}}); err != nil {
		b.Fatal(err)
	}
	in := &Input{Request: &logical.Request{ID: "7b1f7f8e-2b7e-4f0c-9a0e-3d2c1b0a9f8e", Operation: logical.ReadOperation,
		Path: "secret/data/bench/key-1", ClientToken: "hvs.CAESIJ0123456789abcdefghijklmnopqrstuv", RemoteAddr: "127.0.0.1:50000"},
		Auth: &logical.Auth{ClientToken: "hvs.CAESIJ0123456789abcdefghijklmnopqrstuv", Accessor: "0123456789abcdefghijklmn",
			Policies: []string{"root"}, DisplayName: "root", TokenType: "service"},
		MountPoint: "secret/", MountType: "kv", Response: &logical.Response{Data: map[string]any{"data": map[string]any{"value": "x"}}}}
	work := func() {
		s := NewSalt(testKey)
		for range 20 {
			_ = s.Hash("some work a request does")
		}
	}
	b.SetParallelism(8)
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			work()
			if err := br.LogRequest(ctx, in); err != nil {
				b.Error(err)
			}
			work()
			if err := br.LogResponse(ctx, in); err != nil {
				b.Error(err)
			}
		}
	})
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	fs := (*br.devices.Load())[0].sink.(*fileSink)
	b.ReportMetric(float64(2*b.N)/float64(fs.writes.Load()), "lines/write")
}
