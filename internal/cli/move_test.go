package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestMovePollsUntilTheEnd: a move still in progress is polled again, and
// a failed one exits 2 with Vault's message; auth paths get "auth/".
func TestMovePollsUntilTheEnd(t *testing.T) {
	t.Parallel()
	var (
		mu     sync.Mutex
		polls  int
		posted map[string]string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.Method + " " + r.URL.Path {
		case "POST /v1/sys/remount":
			b, _ := io.ReadAll(r.Body)
			_ = json.Unmarshal(b, &posted)
			io.WriteString(w, `{"data":{"migration_id":"m1"}}`)
		case "GET /v1/sys/remount/status/m1":
			polls++
			status := "in-progress"
			if polls > 1 {
				status = "failure"
			}
			io.WriteString(w, `{"data":{"migration_id":"m1","migration_info":{"status":"`+status+`"}}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"errors":[]}`)
		}
	}))
	t.Cleanup(srv.Close)
	vars := map[string]string{"COFFER_ADDR": srv.URL, "COFFER_TOKEN": "s.test", "COFFER_MAX_RETRIES": "0", "XDG_CONFIG_HOME": t.TempDir()}
	stdout, stderr, code := runCLI(t, vars, "", "auth", "move", "people", "auth/staff")
	if code != exitServer {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	for _, want := range []string{
		"Started moving auth method auth/people/ to auth/staff/, with migration ID m1\n",
		"Waiting for terminal status in migration of auth method auth/people/ to auth/staff/, with migration ID m1\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if want := "Failure! Error encountered moving auth method auth/people/ to auth/staff/, with migration ID m1"; !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if posted["from"] != "auth/people/" || posted["to"] != "auth/staff/" || polls != 2 {
		t.Errorf("posted %v, polled %d times", posted, polls)
	}
}
