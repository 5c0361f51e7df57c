package cli

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentCLIs runs several CLIs in one process at once, as the
// tests do, through help, version, flag parsing and usage errors. Under
// -race it fails if any of them writes to state urfave/cli shares across
// apps (its package-level help command and flags).
func TestConcurrentCLIs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"coffer", "-h"}, exitOK, "USAGE:"},
		{[]string{"coffer", "-v"}, exitOK, "coffer version"},
		{[]string{"coffer", "help", "kv"}, exitOK, "coffer kv"},
		{[]string{"coffer", "kv", "get", "-h"}, exitOK, "coffer kv get"},
		{[]string{"coffer", "kv", "-h"}, exitOK, "coffer kv"},
		{[]string{"coffer", "kv", "get", "-zz"}, exitUsage, "flag provided but not defined: -zz"},
		{[]string{"coffer", "lease", "lookup", "-h"}, exitOK, "lease lookup"},
	}
	var wg sync.WaitGroup
	for round := 0; round < 4; round++ {
		for _, tc := range cases {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var out bytes.Buffer
				e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &out, getenv: func(string) string { return "" }}
				if code := run(tc.args, e); code != tc.code || !strings.Contains(out.String(), tc.want) {
					t.Errorf("%v: exit %d, want %d; output %q lacks %q", tc.args, code, tc.code, out.String(), tc.want)
				}
			}()
		}
	}
	wg.Wait()
}
