package bench

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat. Linux reports
// them in USER_HZ, which is 100 on every architecture Go supports there.
const userHZ = 100

// FixedHandler answers every request with body as JSON: the least any
// HTTP server can do per request, the ceiling a KV read is compared with.
func FixedHandler(body []byte) http.Handler {
	n := strconv.Itoa(len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{n}
		_, _ = w.Write(body)
	})
}

// ProcCPU returns a sampler of the CPU time (user + system) that process
// pid has used so far, read from /proc/<pid>/stat. Its resolution is
// 1/USER_HZ (10 ms), so compare samples taken seconds apart.
func ProcCPU(pid int) func() (time.Duration, error) {
	path := fmt.Sprintf("/proc/%d/stat", pid)
	return func() (time.Duration, error) {
		raw, err := os.ReadFile(path)
		if err != nil {
			return 0, err
		}
		return ParseProcStat(raw)
	}
}

// ParseProcStat returns utime + stime from the contents of a
// /proc/<pid>/stat file. The command name (field 2) may hold spaces and
// parentheses, so fields are counted from the last ')'.
func ParseProcStat(raw []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, errors.New("proc stat: no command name")
	}
	// After ")": state is field 3, utime field 14, stime field 15.
	f := bytes.Fields(raw[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("proc stat: bad CPU time %q", s)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// SelfCPU returns the CPU time (user + system) this process has used so
// far, for ceilings measured in the bench's own process.
func SelfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
