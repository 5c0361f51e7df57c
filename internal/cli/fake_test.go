package cli

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeServer answers canned JSON per "METHOD /v1/path" and records every
// request, so tests can check what the CLI sends, in order.
type fakeServer struct {
	t      *testing.T
	srv    *httptest.Server
	routes map[string]fakeReply

	mu    sync.Mutex
	calls []fakeCall
}

type fakeReply struct {
	status int
	body   string
}

type fakeCall struct {
	method, path, query, token, contentType, body string
}

// kvV2Mount is the mount lookup answer for KV v2 at secret/.
const kvV2Mount = `{"data":{"path":"secret/","type":"kv","options":{"version":"2"}}}`

func newFakeServer(t *testing.T, routes map[string]fakeReply) *fakeServer {
	f := &fakeServer{t: t, routes: routes}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.calls = append(f.calls, fakeCall{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("X-Vault-Token"),
		r.Header.Get("Content-Type"), string(b)})
	f.mu.Unlock()
	reply, ok := f.routes[r.Method+" "+r.URL.Path]
	if !ok {
		reply = fakeReply{404, `{"errors":[]}`}
	}
	if reply.status == 0 {
		reply.status = 200
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(reply.status)
	io.WriteString(w, reply.body)
}

// requests returns the recorded calls as "METHOD /path?query".
func (f *fakeServer) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		s := c.method + " " + c.path
		if c.query != "" {
			s += "?" + c.query
		}
		out = append(out, s)
	}
	return out
}

func (f *fakeServer) last() fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[len(f.calls)-1]
}

// appMu serialises in-process runs: urfave/cli applies its global help
// flag to every flag set it builds, so two apps running at once race on it.
var appMu sync.Mutex

// runCLI runs the command line in-process against vars (no other
// environment is visible) and returns its output and exit code.
func runCLI(t *testing.T, vars map[string]string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := &env{
		stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr,
		getenv: func(k string) string { return vars[k] },
	}
	appMu.Lock()
	defer appMu.Unlock()
	code := run(append([]string{"coffer"}, args...), e)
	return stdout.String(), stderr.String(), code
}

// fakeEnv points the CLI at f with a token and no retries.
func fakeEnv(t *testing.T, f *fakeServer) map[string]string {
	return map[string]string{
		"COFFER_ADDR": f.srv.URL, "COFFER_TOKEN": "s.test", "COFFER_MAX_RETRIES": "0",
		"XDG_CONFIG_HOME": t.TempDir(),
	}
}
