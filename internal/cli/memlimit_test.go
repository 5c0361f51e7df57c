package cli

import (
	"testing"
	"testing/fstest"
)

func TestMemoryLimitFor(t *testing.T) {
	t.Parallel()
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	cases := map[string]struct {
		fs         fstest.MapFS
		want       int64
		wantSource string
	}{
		"no cgroup files": {fs: fstest.MapFS{}, want: defaultMemoryLimit, wantSource: "default"},
		"v2 container, 512 MiB": {fs: fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("536870912\n"),
		}, want: 483183820, wantSource: "cgroup"},
		"v2 unlimited": {fs: fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("max\n"),
		}, want: defaultMemoryLimit, wantSource: "default"},
		"v2 own cgroup below the root": {fs: fstest.MapFS{
			"proc/self/cgroup":                                     file("0::/system.slice/coffer.service\n"),
			"sys/fs/cgroup/memory.max":                             file("max\n"),
			"sys/fs/cgroup/system.slice/coffer.service/memory.max": file("268435456\n"),
		}, want: 241591910, wantSource: "cgroup"},
		"v1 own cgroup": {fs: fstest.MapFS{
			"proc/self/cgroup":                                         file("9:name=systemd:/\n4:memory,other:/kubepods/pod1\n0::/\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes":               file("9223372036854771712\n"),
			"sys/fs/cgroup/memory/kubepods/pod1/memory.limit_in_bytes": file("268435456\n"),
		}, want: 241591910, wantSource: "cgroup"},
		"v1 unlimited": {fs: fstest.MapFS{
			"proc/self/cgroup": file("4:memory:/x\n"),
			"sys/fs/cgroup/memory/x/memory.limit_in_bytes": file("9223372036854771712\n"),
		}, want: defaultMemoryLimit, wantSource: "default"},
		"cgroup above the default": {fs: fstest.MapFS{
			"sys/fs/cgroup/memory.max": file("8589934592\n"),
		}, want: defaultMemoryLimit, wantSource: "default"},
		"garbage": {fs: fstest.MapFS{
			"proc/self/cgroup":         file("nonsense"),
			"sys/fs/cgroup/memory.max": file("lots\n"),
		}, want: defaultMemoryLimit, wantSource: "default"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, source := memoryLimitFor(tc.fs)
			if got != tc.want || source != tc.wantSource {
				t.Fatalf("got %d (%s), want %d (%s)", got, source, tc.want, tc.wantSource)
			}
		})
	}
}

func TestBodyBudgetSize(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		sizes []int64
		want  int64
	}{
		"dev (default)":       {sizes: []int64{0}, want: 32 << 20},
		"largest wins":        {sizes: []int64{1 << 20, 64 << 20}, want: 64 << 20},
		"unlimited = default": {sizes: []int64{-1}, want: 32 << 20},
		"small only":          {sizes: []int64{1 << 20}, want: 1 << 20},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var lns []listener
			for _, s := range tc.sizes {
				lns = append(lns, listener{maxRequestSize: s})
			}
			if got := bodyBudgetSize(lns); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}
