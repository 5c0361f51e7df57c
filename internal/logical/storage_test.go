package logical

import (
	"context"
	"testing"
)

// TestBeginRead: a view's read prefixes its keys and goes through the
// storage beneath; storage without reads of its own gets a Get per key.
func TestBeginRead(t *testing.T) {
	ctx := context.Background()
	s := NewInmemStorage()
	for k, v := range map[string]string{"mount/a": "in view", "a": "outside", "mount/sub/b": "deeper"} {
		if err := s.Put(ctx, &StorageEntry{Key: k, Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	v := NewView(s, "mount/")
	for name, st := range map[string]Storage{"view": v, "subview": v.SubView("sub/")} {
		r, err := BeginRead(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := r.(*viewRead); !ok {
			t.Fatalf("%s: read is a %T, not the view's", name, r)
		}
		got := map[string]string{}
		for _, k := range []string{"a", "b", "missing"} {
			val, found, err := r.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			if found {
				got[k] = string(val)
			}
		}
		r.Done()
		want := map[string]string{"view": "in view", "subview": "deeper"}[name]
		if len(got) != 1 || (got["a"] != want && got["b"] != want) {
			t.Fatalf("%s read %v, want only %q", name, got, want)
		}
	}
	r, _ := BeginRead(ctx, s)
	defer r.Done()
	if val, found, err := r.Get(ctx, "a"); err != nil || !found || string(val) != "outside" {
		t.Fatalf("fallback read: %q %v %v", val, found, err)
	}
}
