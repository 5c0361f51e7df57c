package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"
)

// The memory bounds docs/BENCHMARKS.md states for large request bodies: the
// peak resident set of a dev server that is sent the bodies below at once,
// and what it must come back under afterwards (the bodies it stored
// included). Before the body budget, three such token-less bodies alone
// took a server from 14 MiB to 1.8 GiB, and it stayed there.
const (
	peakRSSBoundMiB  = 400
	afterRSSBoundMiB = 128
)

// TestLargeBodiesBoundMemory starts the real server binary and sends it 15
// MiB JSON bodies concurrently: without a token (refused before the body is
// read), with a valid token that may not write there (read and decoded,
// then refused by the policy), as dense structure that would decode to
// hundreds of megabytes (refused by the decode budget), and as root writes
// that succeed. The server's peak RSS (VmHWM) must stay under
// peakRSSBoundMiB, and its RSS must come back under afterRSSBoundMiB.
func TestLargeBodiesBoundMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs Linux /proc")
	}
	t0 := time.Now()
	p := startProcess(t, buildCoffer(t))
	t.Logf("started after %v", time.Since(t0))
	c := newClient(t, p.url, p.root)
	if err := c.Sys().PutPolicy("elsewhere", `path "other/*" { capabilities = ["update"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := c.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"elsewhere"}})
	if err != nil {
		t.Fatal(err)
	}
	user := tok.Auth.ClientToken

	const size = 15 << 20
	str := []byte(`{"data":{"v":"` + strings.Repeat("a", size-20) + `"}}`)
	dense := []byte(`{"data":{"v":[0` + strings.Repeat(",0", size/2-12) + `]}}`)
	type send struct {
		name, token, path string
		body              []byte
		want              int
	}
	var sends []send
	for i := range 3 {
		sends = append(sends,
			send{"token-less dense", "", "secret/data/x", dense, http.StatusForbidden},
			send{"token-less strings", "", "secret/data/x", str, http.StatusForbidden},
			send{"unknown token", "s.nosuchtoken", "secret/data/x", dense, http.StatusForbidden},
			send{"valid token, denied path", user, fmt.Sprintf("secret/data/u%d", i), str, http.StatusForbidden},
			send{"valid token, dense", user, "secret/data/x", dense, http.StatusRequestEntityTooLarge},
		)
	}
	for i := range 2 {
		sends = append(sends, send{"root write", p.root, fmt.Sprintf("secret/data/big%d", i), str, http.StatusOK})
	}

	before, err := p.memKiB("VmRSS")
	if err != nil {
		t.Fatal(err)
	}
	// Watch the RSS while the bodies are sent, and stop the server as soon
	// as it passes the bound, so that a regression fails fast instead of
	// taking gigabytes from a shared machine.
	stop := make(chan struct{})
	var over atomic.Int64
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if rss, err := p.memKiB("VmRSS"); err == nil && rss > peakRSSBoundMiB<<10 {
				over.Store(rss)
				_ = p.cmd.Process.Kill()
				return
			}
		}
	}()
	hc := &http.Client{Timeout: 2 * time.Minute}
	var wg sync.WaitGroup
	errs := make([]string, len(sends))
	for i, s := range sends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPut, p.url+"/v1/"+s.path, bytes.NewReader(s.body))
			if s.token != "" {
				req.Header.Set("X-Vault-Token", s.token)
			}
			resp, err := hc.Do(req)
			if err != nil {
				errs[i] = fmt.Sprintf("%s: %v", s.name, err)
				return
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != s.want {
				errs[i] = fmt.Sprintf("%s: status %d, want %d: %.200s", s.name, resp.StatusCode, s.want, msg)
			}
		}()
	}
	wg.Wait()
	close(stop)
	if rss := over.Load(); rss > 0 {
		t.Fatalf("RSS reached %d MiB, over the %d MiB bound (it was %d MiB before); the server was stopped", rss>>10, peakRSSBoundMiB, before>>10)
	}
	for _, e := range errs {
		if e != "" {
			t.Error(e)
		}
	}
	peak, err := p.memKiB("VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sent after %v", time.Since(t0))
	t.Logf("RSS before %d MiB, peak %d MiB (bound %d MiB)", before>>10, peak>>10, peakRSSBoundMiB)
	if peak > peakRSSBoundMiB<<10 {
		t.Fatalf("peak RSS %d MiB, over the %d MiB bound", peak>>10, peakRSSBoundMiB)
	}
	// The memory goes back once no body has been in flight for a while; a
	// generous deadline, since this is about where RSS ends, not how fast.
	var rss int64
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if rss, err = p.memKiB("VmRSS"); err != nil {
			t.Fatal(err)
		}
		if rss < afterRSSBoundMiB<<10 {
			break
		}
	}
	t.Logf("RSS after %d MiB (bound %d MiB)", rss>>10, afterRSSBoundMiB)
	if rss >= afterRSSBoundMiB<<10 {
		t.Fatalf("RSS stayed at %d MiB after the bodies, over the %d MiB bound", rss>>10, afterRSSBoundMiB)
	}
	if got, err := c.KVv2("secret").Get(t.Context(), "big1"); err != nil || len(got.Data["v"].(string)) != size-20 {
		t.Fatalf("the stored secret did not survive: %v", err)
	}
}
