package kubetest

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestCacheKeyFollowsSources(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":                     "module x\n",
		"go.sum":                     "a v1 h1:x\n",
		"cmd/kube-apiserver/main.go": "package main\n",
		"cmd/etcd/main.go":           "package main\n",
	}
	write := func(name, content string) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range files {
		write(name, content)
	}
	base, err := cacheKey(dir, "go1.26.8")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := cacheKey(dir, "go1.26.8"); again != base {
		t.Fatal("the key is not stable")
	}
	if other, _ := cacheKey(dir, "go1.26.9"); other == base {
		t.Error("the key ignores the Go version")
	}
	for name, content := range files {
		write(name, content+"// changed\n")
		if k, _ := cacheKey(dir, "go1.26.8"); k == base {
			t.Errorf("the key ignores %s", name)
		}
		write(name, content)
	}
	if err := os.Remove(filepath.Join(dir, "go.sum")); err != nil {
		t.Fatal(err)
	}
	if _, err := cacheKey(dir, "go1.26.8"); err == nil {
		t.Error("no error without go.sum")
	}
}

func TestBinariesNotBuilt(t *testing.T) {
	src := Source{CacheDir: filepath.Join(t.TempDir(), "kube", "0123")}
	_, err := src.Binaries()
	if !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("err = %v, want ErrNotBuilt", err)
	}
	if !strings.Contains(err.Error(), "scripts/test.sh") {
		t.Errorf("the error does not say how to build: %v", err)
	}
	if err := os.MkdirAll(src.CacheDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{apiserverName, etcdName} {
		if err := os.WriteFile(filepath.Join(src.CacheDir, n), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := src.Binaries(); err != nil || b.Etcd != filepath.Join(src.CacheDir, etcdName) {
		t.Fatalf("Binaries() = %+v, %v", b, err)
	}
}

func TestLocateSource(t *testing.T) {
	t.Setenv("COFFER_CACHE_DIR", t.TempDir())
	src, err := LocateSource()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(src.ModuleDir, "go.mod")); err != nil {
		t.Fatalf("ModuleDir %s has no go.mod: %v", src.ModuleDir, err)
	}
	if want := filepath.Join(os.Getenv("COFFER_CACHE_DIR"), "kube"); filepath.Dir(src.CacheDir) != want {
		t.Errorf("CacheDir = %s, want it under %s", src.CacheDir, want)
	}
}

func TestUniqueName(t *testing.T) {
	label := regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	tests := map[string]string{
		"plain":      "TestX",
		"subtest":    "TestX/with spaces & Symbols",
		"long":       "Test" + strings.Repeat("Long_", 30),
		"only junk":  "___",
		"dash edges": "-a-",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			got := UniqueName(named{TB: t, name: in})
			if len(got) > 63 || !label.MatchString(got) {
				t.Fatalf("UniqueName(%q) = %q, not a DNS label", in, got)
			}
			if UniqueName(named{TB: t, name: in}) == got {
				t.Fatal("two calls gave the same name")
			}
		})
	}
}

// named is a testing.TB reporting a chosen name.
type named struct {
	testing.TB
	name string
}

func (n named) Name() string { return n.name }

func TestModulePath(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"plain":     {"module github.com/cofferhq/coffer\n\ngo 1.26\n", mainModule},
		"quoted":    {"// c\nmodule \"github.com/cofferhq/coffer\"\n", mainModule},
		"submodule": {"module github.com/cofferhq/coffer/test/kube\n", mainModule + "/test/kube"},
		"none":      {"go 1.26\n", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := modulePath([]byte(tc.in)); got != tc.want {
				t.Fatalf("modulePath = %q, want %q", got, tc.want)
			}
		})
	}
}
