package cli

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// httpGet sends one raw GET to the server on $PORT, for what the CLI
// cannot do (set X-Forwarded-For, show response headers):
// "httpget [-H 'Name: value']... PATH". It prints "HTTP <status>", then
// the response headers as "Name: value" lines in order, a blank line and
// the body. $COFFER_TOKEN, when set, goes in X-Vault-Token.
func httpGet(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("httpget never fails: check its status line instead")
	}
	req, err := http.NewRequest(http.MethodGet, "", nil)
	ts.Check(err)
	for len(args) >= 2 && args[0] == "-H" {
		name, value, ok := strings.Cut(args[1], ":")
		if !ok {
			ts.Fatalf("httpget: header %q is not 'Name: value'", args[1])
		}
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		args = args[2:]
	}
	if len(args) != 1 {
		ts.Fatalf("usage: httpget [-H 'Name: value']... PATH")
	}
	req.URL, err = req.URL.Parse("http://127.0.0.1:" + ts.Getenv("PORT") + "/v1/" + strings.TrimPrefix(args[0], "/"))
	ts.Check(err)
	if tok := ts.Getenv("COFFER_TOKEN"); tok != "" {
		req.Header.Set("X-Vault-Token", tok)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	ts.Check(err)
	var names []string
	for k := range resp.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	var out strings.Builder
	fmt.Fprintf(&out, "HTTP %d\n", resp.StatusCode)
	for _, k := range names {
		fmt.Fprintf(&out, "%s: %s\n", k, strings.Join(resp.Header[k], ", "))
	}
	fmt.Fprintf(&out, "\n%s", body)
	_, _ = ts.Stdout().Write([]byte(out.String()))
}

// envsubst copies SRC to DST with $VAR and ${VAR} replaced by the script's
// environment, for configuration files that need $PORT or $WORK.
func envsubst(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: envsubst SRC DST")
	}
	out := os.Expand(ts.ReadFile(args[0]), ts.Getenv)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(out), 0o600))
}
