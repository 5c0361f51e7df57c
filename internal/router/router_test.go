package router

import "testing"

func TestMatch(t *testing.T) {
	t.Parallel()
	rt := New()
	for _, p := range []string{"secret/", "secret/team/", "auth/token/", "sys/"} {
		rt.Mount(&Route{Path: p, Type: p})
	}
	cases := map[string]struct {
		path, mount, rest string
	}{
		"deepest":        {"secret/team/data/x", "secret/team/", "data/x"},
		"shallow":        {"secret/data/x", "secret/", "data/x"},
		"mount itself":   {"secret", "secret/", ""},
		"mount slash":    {"secret/", "secret/", ""},
		"auth":           {"auth/token/lookup-self", "auth/token/", "lookup-self"},
		"no mount":       {"nothing/here", "", ""},
		"prefix not seg": {"secretive/x", "", ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, rest := rt.Match(tc.path)
			if tc.mount == "" {
				if r != nil {
					t.Fatalf("matched %q", r.Path)
				}
				return
			}
			if r == nil || r.Path != tc.mount || rest != tc.rest {
				t.Fatalf("got %v %q", r, rest)
			}
		})
	}
}

func TestUnmount(t *testing.T) {
	t.Parallel()
	rt := New()
	rt.Mount(&Route{Path: "secret/"})
	rt.Mount(&Route{Path: "secret/team/"})
	if rt.Unmount("secret/team/") == nil {
		t.Fatal("unmount returned nil")
	}
	if r, rest := rt.Match("secret/team/data/x"); r.Path != "secret/" || rest != "team/data/x" {
		t.Fatalf("after unmount: %q %q", r.Path, rest)
	}
}

func TestMatchesPattern(t *testing.T) {
	t.Parallel()
	pats := []string{"login", "login/*"}
	for path, want := range map[string]bool{"login": true, "login/x": true, "logout": false, "": false} {
		if got := MatchesPattern(pats, path); got != want {
			t.Errorf("%q: got %v", path, got)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	rt := New()
	for _, p := range []string{"secret/", "sys/", "auth/token/", "cubbyhole/", "db/"} {
		rt.Mount(&Route{Path: p})
	}
	for b.Loop() {
		rt.Match("secret/data/myapp/database/primary")
	}
}
