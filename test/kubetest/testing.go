package kubetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
)

// shared is the one cluster of a test binary that called Main.
var shared struct {
	mu      sync.Mutex
	inMain  bool
	started bool
	c       *Cluster
	err     error
}

// Main runs a package's tests (call it from TestMain) and stops the
// shared cluster, if a test started one, when they are done. It returns
// the exit code for os.Exit.
func Main(m *testing.M) int {
	shared.mu.Lock()
	shared.inMain = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.c != nil {
		if code != 0 && !keepDir() {
			fmt.Fprintf(os.Stderr, "kubetest: set COFFER_KUBE_KEEP=1 to keep the cluster's logs in its directory\n")
		}
		shared.c.Stop()
	}
	return code
}

// Shared returns the test binary's cluster, starting it on first use with
// the default Options; the package's TestMain must call Main, which stops
// it. Tests that share it must not depend on each other's objects: use
// NewNamespace for a namespace of one's own.
//
// When the binaries are not built, it skips the test, or fails it when
// the environment has CI=true. A failed start fails every test that asks.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.inMain {
		t.Fatal("kubetest.Shared needs the package's TestMain to call os.Exit(kubetest.Main(m))")
	}
	if !shared.started {
		shared.started = true
		shared.c, shared.err = launchForTest(Options{})
	}
	if shared.err != nil {
		skipOrFail(t, shared.err)
	}
	return shared.c
}

// Start starts a cluster of the test's own, with opts, and stops it when
// the test ends. Prefer Shared: each start costs tens of seconds.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c, err := launchForTest(opts)
	if err != nil {
		skipOrFail(t, err)
	}
	t.Cleanup(c.Stop)
	return c
}

// launchForTest finds the cached binaries and launches a cluster.
func launchForTest(opts Options) (*Cluster, error) {
	src, err := LocateSource()
	if err != nil {
		return nil, err
	}
	bins, err := src.Binaries()
	if err != nil {
		return nil, err
	}
	opts.KeepDir = opts.KeepDir || keepDir()
	return Launch(context.Background(), bins, opts)
}

// skipOrFail skips the test when the binaries are simply not built and
// this is not CI; anything else is a failure.
func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNotBuilt) && os.Getenv("CI") != "true" {
		t.Skipf("kubetest: %v", err)
	}
	t.Fatalf("kubetest: %v", err)
}

func keepDir() bool { return os.Getenv("COFFER_KUBE_KEEP") == "1" }
