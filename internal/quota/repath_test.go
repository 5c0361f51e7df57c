package quota

import (
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// TestMovePath: the quotas on a moved mount follow it, in every path form,
// and survive a reload; the others stay put.
func TestMovePath(t *testing.T) {
	t.Parallel()
	s := logical.NewInmemStorage()
	m, _ := newTestManager(t, s,
		Quota{Name: "mount", Path: "team/", Rate: 5},
		Quota{Name: "exact", Path: "team/data/x", Rate: 5},
		Quota{Name: "glob", Path: "team/data/*", Rate: 5},
		Quota{Name: "other", Path: "teams/", Rate: 5},
		Quota{Name: "global", Rate: 5},
	)
	n, err := m.MovePath(t.Context(), "team/", "moved/team/")
	if err != nil || n != 3 {
		t.Fatalf("moved %d, %v", n, err)
	}
	reloaded := New(s)
	if err := reloaded.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"mount": "moved/team/", "exact": "moved/team/data/x", "glob": "moved/team/data/*", "other": "teams/", "global": "",
	} {
		if q, ok := reloaded.Get(name); !ok || q.Path != want {
			t.Fatalf("%s: %+v, want path %q", name, q, want)
		}
	}
}
