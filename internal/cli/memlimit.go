package cli

import (
	"io/fs"
	"os"
	"path"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/cofferhq/coffer/internal/httpapi"
)

// defaultMemoryLimit is the server's soft memory limit when neither
// GOMEMLIMIT nor a cgroup says otherwise. A secrets server's live heap is
// tens of megabytes; the limit only matters under a burst (request bodies
// are bounded separately by the HTTP layer's body budget), when it makes the
// collector work harder and return memory rather than let the heap grow.
const defaultMemoryLimit int64 = 1 << 30

// cgroupLimitShare is the part of a cgroup's memory limit the soft limit
// takes, leaving room for what the Go runtime does not manage (stacks of
// cgo, the kernel's page cache charged to the cgroup).
const cgroupLimitShare = 0.9

// applyMemoryLimit sets the runtime's soft memory limit unless GOMEMLIMIT
// is in the environment, where the runtime has already applied it. The
// limit is defaultMemoryLimit, or 90 % of the process's cgroup memory limit
// when that is lower. GOGC is left to the runtime: 100, or the
// environment's. It returns the limit in force and where it came from.
func applyMemoryLimit() (int64, string) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1), "GOMEMLIMIT"
	}
	limit, source := memoryLimitFor(os.DirFS("/"))
	debug.SetMemoryLimit(limit)
	return limit, source
}

// memoryLimitFor chooses the soft limit on the filesystem root: the
// default, or a share of a lower cgroup (v1 or v2) memory limit.
func memoryLimitFor(root fs.FS) (int64, string) {
	limit, source := defaultMemoryLimit, "default"
	if cg, ok := cgroupMemoryLimit(root); ok {
		if share := int64(float64(cg) * cgroupLimitShare); share < limit {
			limit, source = share, "cgroup"
		}
	}
	return limit, source
}

// cgroupMemoryLimit returns the lowest memory limit set on the process's
// own cgroup or on the root of the cgroup mount (what a container sees),
// for cgroup v2 (memory.max) and v1 (memory.limit_in_bytes).
func cgroupMemoryLimit(root fs.FS) (int64, bool) {
	candidates := []string{"sys/fs/cgroup/memory.max", "sys/fs/cgroup/memory/memory.limit_in_bytes"}
	if b, err := fs.ReadFile(root, "proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			// "hierarchy-ID:controller-list:path"; v2 has ID 0 and no controllers.
			parts := strings.SplitN(line, ":", 3)
			if len(parts) != 3 || !strings.HasPrefix(parts[2], "/") {
				continue
			}
			switch {
			case parts[0] == "0" && parts[1] == "":
				candidates = append(candidates, path.Join("sys/fs/cgroup", parts[2], "memory.max"))
			case containsField(parts[1], "memory"):
				candidates = append(candidates, path.Join("sys/fs/cgroup/memory", parts[2], "memory.limit_in_bytes"))
			}
		}
	}
	best, found := int64(0), false
	for _, c := range candidates {
		b, err := fs.ReadFile(root, c)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		// "max" (v2) or a page-rounded MaxInt64 (v1) mean no limit.
		if err != nil || n <= 0 || n >= 1<<60 {
			continue
		}
		if !found || n < best {
			best, found = n, true
		}
	}
	return best, found
}

func containsField(list, name string) bool {
	for _, f := range strings.Split(list, ",") {
		if f == name {
			return true
		}
	}
	return false
}

// bodyBudgetSize sizes the request-body budget all listeners share for the
// largest body any of them accepts; a listener without a cap of its own
// counts as the default 32 MiB.
func bodyBudgetSize(lns []listener) int64 {
	size := int64(0)
	for _, l := range lns {
		n := l.maxRequestSize
		if n <= 0 {
			n = httpapi.DefaultMaxRequestSize
		}
		size = max(size, n)
	}
	return size
}
