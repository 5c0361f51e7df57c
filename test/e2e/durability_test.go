package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"
)

// fileServer is "coffer server" on file storage (bbolt) with a static seal,
// as a process of its own that the test may kill -9 and start again.
type fileServer struct {
	bin, conf, url string
	cmd            *exec.Cmd
}

func newFileServer(t *testing.T, bin string) *fileServer {
	t.Helper()
	dir := t.TempDir()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(filepath.Join(dir, "seal.key"), []byte(hex.EncodeToString(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := fmt.Sprintf("storage \"file\" { path = %q }\nlistener \"tcp\" {\n  address = %q\n  tls_disable = true\n}\nseal \"static\" { key_file = %q }\nlog_level = \"warn\"\n",
		filepath.Join(dir, "data"), addr, filepath.Join(dir, "seal.key"))
	f := &fileServer{bin: bin, conf: filepath.Join(dir, "coffer.hcl"), url: "http://" + addr}
	if err := os.WriteFile(f.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// start runs the server and waits until it answers sys/health.
func (f *fileServer) start(t *testing.T) {
	t.Helper()
	f.cmd = exec.Command(f.bin, "server", "-config="+f.conf)
	f.cmd.Stderr = os.Stderr
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd := f.cmd
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	c := newClient(t, f.url, "")
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := c.Sys().Health(); err == nil {
			return
		}
	}
	t.Fatal("the server did not answer sys/health within 30s")
}

// TestKillNineLosesNoAcknowledgedWrite: writers hammer KV v2 on file
// storage (write-ahead log in front of bbolt) with new keys and new versions
// of shared keys; the server is killed with SIGKILL mid-load and started
// again on the same files, several times, at varying moments. After every
// restart, every new key acknowledged so far, and the latest acknowledged
// version of every shared key, must be there with its value.
//
// A SIGKILL loses what the process had not handed to the kernel, so this
// proves writes are acknowledged only after their log record reached the
// file, and that the log is replayed into bbolt at start; the fdatasync
// that makes the record survive a power cut is the log's (a power cut is
// not simulated here).
func TestKillNineLosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	f := newFileServer(t, buildCoffer(t))
	f.start(t)
	c := newClient(t, f.url, "")
	init, err := c.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(init.RootToken)
	if err := c.Sys().Mount("secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	var acked []ack
	for kill := range 6 {
		// 0.7 s to 2.2 s of load, so the kill lands at different moments
		// of the log's group commit and of bbolt's background commit.
		load := 700*time.Millisecond + time.Duration(kill)*300*time.Millisecond
		got := loadUntilKill9(t, f, init.RootToken, kill, load)
		if len(got) < 50 {
			t.Fatalf("kill %d: only %d writes acknowledged before it; the test proves little", kill, len(got))
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(f.conf), "data", "coffer.wal")); err != nil {
			t.Fatalf("no write-ahead log next to the database: %v", err)
		}
		acked = append(acked, got...)
		f.start(t)
		checkAcked(t, f.url, init.RootToken, acked)
		t.Logf("kill %d after %v: %d acknowledged writes so far, all present after kill -9 and restart", kill, load, len(acked))
	}
}

type ack struct {
	path    string
	version int
	value   string
}

// loadUntilKill9 runs 12 writers for load, kills the server with
// SIGKILL, and returns the writes it acknowledged.
func loadUntilKill9(t *testing.T, f *fileServer, token string, kill int, load time.Duration) []ack {
	var (
		mu    sync.Mutex
		acked []ack
		wg    sync.WaitGroup
	)
	stop := make(chan struct{})
	for w := range 12 {
		wg.Go(func() {
			kv := newClient(t, f.url, token).KVv2("secret")
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Odd writers add keys; even ones add versions to shared keys.
				path := fmt.Sprintf("new/%d-%d-%d", kill, w, i)
				if w%2 == 0 {
					path = fmt.Sprintf("shared/%d", i%8)
				}
				val := fmt.Sprintf("%d-%d-%d", kill, w, i)
				s, err := kv.Put(t.Context(), path, map[string]any{"v": val})
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked = append(acked, ack{path, s.VersionMetadata.Version, val})
				mu.Unlock()
			}
		})
	}
	time.Sleep(load)
	if err := f.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = f.cmd.Wait()
	close(stop)
	wg.Wait()
	return acked
}

// checkAcked reads back every new key and the latest acknowledged version
// of every shared key (a shared key keeps its last 10 versions, and at most
// 6 unacknowledged ones can follow its latest acknowledged one).
func checkAcked(t *testing.T, url, token string, acked []ack) {
	t.Helper()
	latest := map[string]ack{}
	for _, a := range acked {
		if a.version > latest[a.path].version {
			latest[a.path] = a
		}
	}
	kv := newClient(t, url, token).KVv2("secret")
	for _, a := range latest {
		s, err := kv.GetVersion(t.Context(), a.path, a.version)
		if err != nil {
			t.Fatalf("acknowledged write %s v%d lost after kill -9: %v", a.path, a.version, err)
		}
		if got := s.Data["v"]; got != a.value {
			t.Fatalf("%s v%d = %v after kill -9, acknowledged %q", a.path, a.version, got, a.value)
		}
	}
}
