package kubetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// mainModule is the module path whose root holds test/kube.
const mainModule = "github.com/cofferhq/coffer"

// buildFlags are the flags the binaries are built with. They are part of
// the cache key, so changing them forces a rebuild. -trimpath keeps paths
// of this machine out of the binaries; -s -w drop the symbol table and
// DWARF, which shortens the link of two ~100 MB binaries noticeably.
var buildFlags = []string{"-trimpath", "-ldflags=-s -w"}

// The two binaries a cluster needs, by their file names in the cache.
const (
	apiserverName = "kube-apiserver"
	etcdName      = "etcd"
)

// Binaries are the paths of a built kube-apiserver and etcd.
type Binaries struct {
	APIServer string
	Etcd      string
}

// Source is where the test/kube module lives and where its binaries are
// (or will be) cached. Its zero value is not usable: get one from
// LocateSource.
type Source struct {
	// ModuleDir is the test/kube directory (its go.mod and cmd/).
	ModuleDir string
	// CacheDir is the directory the two binaries are kept in; its last
	// element is a key derived from the module's go.mod, go.sum and mains,
	// the Go version, the platform and the build flags, so any change to
	// those builds afresh beside the old one.
	CacheDir string
	// GoVersion is the version of the go command that builds the binaries.
	GoVersion string
}

// LocateSource finds test/kube by walking up from the working directory
// (a test runs in its package's directory) to the root of the Coffer
// module, and derives the cache directory: $COFFER_CACHE_DIR/kube/<key>,
// where COFFER_CACHE_DIR defaults to the user cache directory plus
// "coffer" ($HOME/.cache/coffer on Linux).
func LocateSource() (Source, error) {
	root, err := findModuleRoot()
	if err != nil {
		return Source{}, err
	}
	goVersion, err := goEnvVersion()
	if err != nil {
		return Source{}, err
	}
	base, err := cacheBase()
	if err != nil {
		return Source{}, err
	}
	dir := filepath.Join(root, "test", "kube")
	key, err := cacheKey(dir, goVersion)
	if err != nil {
		return Source{}, err
	}
	return Source{ModuleDir: dir, CacheDir: filepath.Join(base, "kube", key), GoVersion: goVersion}, nil
}

// Binaries returns the cached binaries, or an error wrapping ErrNotBuilt
// that says how to build them.
func (s Source) Binaries() (Binaries, error) {
	b := Binaries{
		APIServer: filepath.Join(s.CacheDir, apiserverName),
		Etcd:      filepath.Join(s.CacheDir, etcdName),
	}
	for _, p := range []string{b.APIServer, b.Etcd} {
		if _, err := os.Stat(p); err != nil {
			return Binaries{}, fmt.Errorf("%w: %s is missing; build it with `scripts/test.sh` "+
				"or `go run ./test/kubetest/kubeup -build` (the first build takes many minutes)", ErrNotBuilt, p)
		}
	}
	return b, nil
}

// Build builds kube-apiserver and etcd into the cache unless they are
// already there, and returns their paths. It writes progress lines to
// progress (which may be nil) while it builds. Concurrent builds of the
// same key are safe: each builds into its own directory and the first to
// finish is kept.
func (s Source) Build(ctx context.Context, progress io.Writer) (Binaries, error) {
	if b, err := s.Binaries(); err == nil {
		return b, nil
	}
	if progress == nil {
		progress = io.Discard
	}
	if err := os.MkdirAll(filepath.Dir(s.CacheDir), 0o755); err != nil {
		return Binaries{}, fmt.Errorf("create kube cache: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(s.CacheDir), ".build-*")
	if err != nil {
		return Binaries{}, fmt.Errorf("create kube build directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	total := countPackages(ctx, s.ModuleDir)
	fmt.Fprintf(progress, "kube: building kube-apiserver and etcd (%s, %d packages) into %s\n",
		s.GoVersion, total, s.CacheDir)
	args := append([]string{"build", "-v"}, buildFlags...)
	args = append(args, "-o", tmp+string(filepath.Separator), "./cmd/kube-apiserver", "./cmd/etcd")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = s.ModuleDir
	cmd.Env = buildEnv()
	var tail tailBuffer
	pr, pw := io.Pipe()
	cmd.Stdout = &tail
	cmd.Stderr = pw
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		reportProgress(pr, &tail, progress, total, start)
	}()
	err = cmd.Run()
	pw.Close()
	wg.Wait()
	if err != nil {
		return Binaries{}, fmt.Errorf("%w: go build in %s: %v\n%s", ErrBuildFailed, s.ModuleDir, err, tail.String())
	}
	if err := os.Rename(tmp, s.CacheDir); err != nil {
		// Another build of the same key finished first: keep its result.
		if b, ferr := s.Binaries(); ferr == nil {
			return b, nil
		}
		return Binaries{}, fmt.Errorf("install kube binaries: %w", err)
	}
	fmt.Fprintf(progress, "kube: built in %s\n", time.Since(start).Round(time.Second))
	return s.Binaries()
}

// reportProgress reads go build -v's package lines from r, keeps every
// line in tail for error messages, and writes one summary line to w at
// most every 30 seconds, so a long build shows it is alive without
// printing thousands of package names.
func reportProgress(r io.Reader, tail *tailBuffer, w io.Writer, total int, start time.Time) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	last := time.Now()
	for sc.Scan() {
		line := sc.Text()
		_, _ = tail.Write([]byte(line + "\n"))
		if strings.ContainsAny(line, " :") {
			continue // an error or a warning, not a package name
		}
		n++
		if time.Since(last) >= 30*time.Second {
			last = time.Now()
			fmt.Fprintf(w, "kube: %s compiled %d of at most %d packages (now %s)\n",
				time.Since(start).Round(time.Second), n, total, line)
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// countPackages returns how many packages the two mains depend on, or 0
// when go list fails (the build will then report the real error).
func countPackages(ctx context.Context, dir string) int {
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "./cmd/kube-apiserver", "./cmd/etcd")
	cmd.Dir = dir
	cmd.Env = buildEnv()
	out, err := cmd.Output()
	if err != nil {
		return 0
	}
	return bytes.Count(out, []byte("\n"))
}

// buildEnv is the environment of the go commands that build test/kube:
// the caller's, with the toolchain pinned to the local one, no workspace,
// and a read-only module graph so a build never rewrites test/kube/go.mod
// or go.sum. (cgo is left as the machine has it: turning it off would not
// make the build noticeably shorter.)
func buildEnv() []string {
	env := os.Environ()
	return append(env, "GOTOOLCHAIN=local", "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false")
}

// goEnvVersion reports the version of the go command on PATH, the one
// that builds the binaries; without one it falls back to the version this
// program was built with.
var goEnvVersion = sync.OnceValues(func() (string, error) {
	cmd := exec.Command("go", "env", "GOVERSION")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	out, err := cmd.Output()
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return runtime.Version(), nil
		}
		return "", fmt.Errorf("go env GOVERSION: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
})

// cacheKey hashes everything that decides the binaries' content.
func cacheKey(moduleDir, goVersion string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "coffer-kube-1\n%s\n%s/%s\n%s\n", goVersion, runtime.GOOS, runtime.GOARCH,
		strings.Join(buildFlags, " "))
	files := []string{"go.mod", "go.sum", "cmd/kube-apiserver/main.go", "cmd/etcd/main.go"}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(moduleDir, filepath.FromSlash(f)))
		if err != nil {
			return "", fmt.Errorf("read test/kube: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// cacheBase is $COFFER_CACHE_DIR, else the user cache directory + coffer.
func cacheBase() (string, error) {
	if d := os.Getenv("COFFER_CACHE_DIR"); d != "" {
		return filepath.Abs(d)
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory (set COFFER_CACHE_DIR): %w", err)
	}
	return filepath.Join(d, "coffer"), nil
}

// findModuleRoot walks up from the working directory to the directory
// whose go.mod declares the Coffer module.
func findModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && modulePath(b) == mainModule {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no go.mod of %s above the working directory", ErrNoSource, mainModule)
		}
		dir = parent
	}
}

// modulePath returns the path on go.mod's module line.
func modulePath(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// tailBuffer keeps the last 8 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - 8192; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
