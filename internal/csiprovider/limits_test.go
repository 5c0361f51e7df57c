package csiprovider

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

// TestMountReadBudget: a server that answers each of many objects with a
// large body (the cofferAddress of a SecretProviderClass can name any
// server) fails the mount once the answers pass maxMountBytes in all,
// rather than holding them all in the memory of the node-wide provider.
func TestMountReadBudget(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/login") {
			fmt.Fprint(w, `{"auth":{"client_token":"t","lease_duration":3600}}`)
			return
		}
		fmt.Fprintf(w, `{"data":{"v":%q}}`, big)
	}))
	t.Cleanup(srv.Close)
	var objs []string
	for i := range 48 {
		objs = append(objs, fmt.Sprintf("- {objectName: o%d, secretPath: secret/data/o%d, secretKey: v}", i, i))
	}
	attrs, _ := json.Marshal(map[string]string{
		"roleName": "app", "cofferAddress": srv.URL, "objects": strings.Join(objs, "\n"),
		attrSATokens: `{"coffer":{"token":"x.y.z"}}`,
	})
	p := New(Config{})
	_, err := p.Mount(context.Background(), &v1alpha1.MountRequest{Attributes: string(attrs), Permission: "420"})
	if err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("Mount of 48 MiB of answers: %v, want a refusal naming the limit", err)
	}
}

// TestRateLimitBackoffIsPerPod: a pod whose own requests the server rate
// limits (a quota on its paths) backs off alone; another pod's mount on
// the same node and server goes ahead. An unreachable or sealed server
// still puts the whole address in back-off.
func TestRateLimitBackoffIsPerPod(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/login"):
			fmt.Fprint(w, `{"auth":{"client_token":"t","lease_duration":3600}}`)
		case strings.Contains(r.URL.Path, "private"):
			c, _, _ := w.(http.Hijacker).Hijack() // no answer at all
			c.Close()
		case strings.Contains(r.URL.Path, "noisy"):
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"errors":["request path \"secret/data/noisy\": rate limit quota exceeded"]}`)
		default:
			fmt.Fprint(w, `{"data":{"v":"1"}}`)
		}
	}))
	t.Cleanup(srv.Close)
	p := New(Config{})
	mount := func(pod, path string) error {
		attrs, _ := json.Marshal(map[string]string{
			"roleName": "app", "cofferAddress": srv.URL,
			"objects":   "- {objectName: f, secretPath: " + path + ", secretKey: v}",
			attrPodName: pod, attrPodUID: pod + "-uid", attrPodNS: "ns",
			attrSATokens: `{"coffer":{"token":"x.y.z"}}`,
		})
		_, err := p.Mount(context.Background(), &v1alpha1.MountRequest{Attributes: string(attrs), Permission: "420"})
		return err
	}
	if err := mount("noisy", "secret/data/noisy"); err == nil {
		t.Fatal("the rate-limited mount succeeded")
	}
	if err := mount("quiet", "secret/data/quiet"); err != nil {
		t.Fatalf("another pod's mount after one pod was rate limited: %v", err)
	}
	if err := mount("noisy", "secret/data/quiet"); err == nil || !strings.Contains(err.Error(), "backing off") {
		t.Fatalf("the rate-limited pod at once again: %v, want back-off", err)
	}
	// An address without answers holds back every pod, and what they are
	// told names none of the other pod's paths.
	if err := mount("secretive", "secret/data/private-plans"); err == nil {
		t.Fatal("a mount without an answer succeeded")
	}
	err := mount("quiet", "secret/data/quiet")
	if err == nil || !strings.Contains(err.Error(), "backing off") || strings.Contains(err.Error(), "private-plans") {
		t.Fatalf("another pod after no answer: %v, want back-off that names no other pod's path", err)
	}
}

// TestClientsBounded: every address a SecretProviderClass names gets a
// client; past maxClients the least recently used one goes, so a stream of
// new addresses cannot grow the node-wide provider without end, while the
// addresses in use keep their client and its connections.
func TestClientsBounded(t *testing.T) {
	t.Parallel()
	var cs clients
	params := func(i int) *mountParams { return &mountParams{address: fmt.Sprintf("https://coffer-%d:8200", i)} }
	first, err := cs.get(params(0))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3*maxClients; i++ {
		if _, err := cs.get(params(i)); err != nil {
			t.Fatal(err)
		}
		if again, _ := cs.get(params(0)); again != first { // in use: kept
			t.Fatalf("after %d other addresses the client of address 0 was replaced", i)
		}
	}
	if n := cs.m.Len(); n != maxClients {
		t.Fatalf("%d clients kept; want %d", n, maxClients)
	}
	if _, ok := cs.m.Peek(clientKey{addr: params(1).address}); ok {
		t.Fatal("the least recently used address still has its client")
	}
}

// TestBackoffBounded: the back-off map is bounded like the caches.
func TestBackoffBounded(t *testing.T) {
	t.Parallel()
	b := backoff{base: time.Second, max: time.Minute}
	now := time.Now()
	for i := range maxCached + 10 {
		b.fail(fmt.Sprintf("https://a-%d", i), &MountError{Msg: "down"}, now)
	}
	if n := len(b.m); n > maxCached {
		t.Fatalf("%d addresses in back-off; want at most %d", n, maxCached)
	}
	if b.check(fmt.Sprintf("https://a-%d", maxCached+9), now) == nil {
		t.Fatal("the latest failure is not backing off")
	}
}
