package core

import (
	"context"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/system"
)

// TestResumeInterruptedMove: a move whose table was written but whose
// movers did not run (a crash) is finished by the next unseal's resume.
func TestResumeInterruptedMove(t *testing.T) {
	t.Parallel()
	c, _ := devCore(t)
	ctx := context.Background()
	st := c.state.Load()
	te, err := st.tokens.CreateFromAuth(ctx, &logical.Auth{Policies: []string{"default"}}, "auth/old/login/alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := logical.PutJSON(ctx, c.barrier, remountKey, pendingMove{From: "auth/old/", To: "auth/new/"}); err != nil {
		t.Fatal(err)
	}
	st.mounts.resumeMove(ctx)
	got, err := st.tokens.LookupAccessor(ctx, te.Accessor)
	if err != nil || got == nil || got.Path != "auth/new/login/alice" {
		t.Fatalf("token after the resumed move: %+v %v", got, err)
	}
	if e, err := c.barrier.Get(ctx, remountKey); err != nil || e != nil {
		t.Fatalf("the finished move is still pending: %v %v", e, err)
	}
}

func FuzzRemountPaths(f *testing.F) {
	for _, s := range [][2]string{
		{"secret", "new"}, {"auth/userpass", "auth/people"}, {"sys", "x"}, {"auth/token", "auth/t"},
		{"a/b/", "c//d"}, {" a", "b"}, {"a", "../b"}, {"auth/", "auth/x"}, {"a*", "b+"}, {"", "x"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, from, to string) {
		tab, src, dst, err := remountPaths(from, to)
		if err != nil {
			return
		}
		for _, p := range []string{src, dst} {
			if !strings.HasSuffix(p, "/") || strings.TrimSpace(p) != p {
				t.Fatalf("remountPaths(%q, %q) accepted %q", from, to, p)
			}
			for _, seg := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
				if seg == "" || seg == "." || seg == ".." {
					t.Fatalf("remountPaths(%q, %q) accepted %q", from, to, p)
				}
			}
		}
		if tab == system.SecretsTable {
			for _, p := range protectedMounts {
				if strings.HasPrefix(src, p) || strings.HasPrefix(dst, p) {
					t.Fatalf("remountPaths(%q, %q) accepted a protected path", from, to)
				}
			}
		} else if strings.HasPrefix("auth/"+src, "auth/token") || strings.HasPrefix("auth/"+dst, "auth/token") {
			t.Fatalf("remountPaths(%q, %q) moves the token method", from, to)
		}
	})
}
