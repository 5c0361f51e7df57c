// Package conformance is the behaviour suite every physical.Backend must
// pass: Get of a missing key, overwrite, delete, List's folder collapsing and
// ordering, transactions and concurrent use. Each backend's tests call Run
// with a constructor for a fresh, empty backend.
//
// It is test support only; no server code imports it. It lives beside inmem
// because physical/ holds only the shared contract.
package conformance

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/cofferhq/coffer/internal/physical"
)

// Run runs the whole suite against backends made by newBackend, which must
// return an empty backend each time it is called.
func Run(t *testing.T, newBackend func(t *testing.T) physical.Backend) {
	t.Run("GetMissing", func(t *testing.T) { testGetMissing(t, newBackend(t)) })
	t.Run("PutGetDelete", func(t *testing.T) { testPutGetDelete(t, newBackend(t)) })
	t.Run("List", func(t *testing.T) { testList(t, newBackend(t)) })
	t.Run("Transaction", func(t *testing.T) { testTransaction(t, newBackend(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, newBackend(t)) })
	t.Run("Read", func(t *testing.T) { testRead(t, newBackend(t)) })
}

// testRead checks a read of several keys (physical.BeginRead, the
// backend's own or the fallback): it sees what was written before it
// began, empty and missing values as Get does, and values that stay as
// they were after later writes and Done.
func testRead(t *testing.T, b physical.Backend) {
	ctx := context.Background()
	mustPut(t, b, "r/a", []byte("a1"))
	mustPut(t, b, "r/empty", []byte{})
	mustPut(t, b, "r/gone", []byte("g"))
	if err := b.Delete(ctx, "r/gone"); err != nil {
		t.Fatal(err)
	}
	r, err := physical.BeginRead(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	v, found, err := r.Get(ctx, "r/a")
	if err != nil || !found || string(v) != "a1" {
		t.Fatalf("read r/a = %q, %v, %v; want a1", v, found, err)
	}
	if e, found, err := r.Get(ctx, "r/empty"); err != nil || !found || len(e) != 0 {
		t.Fatalf("read r/empty = %q, %v, %v; want an empty value", e, found, err)
	}
	for _, k := range []string{"r/gone", "r/missing"} {
		if _, found, err := r.Get(ctx, k); err != nil || found {
			t.Fatalf("read %s = %v, %v; want it absent", k, found, err)
		}
	}
	r.Done()
	mustPut(t, b, "r/a", []byte("a2"))
	if string(v) != "a1" {
		t.Fatalf("a value read before a write changed to %q", v)
	}
	r, err = physical.BeginRead(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Done()
	if v, found, err := r.Get(ctx, "r/a"); err != nil || !found || string(v) != "a2" {
		t.Fatalf("a read begun after the write found %q, %v, %v; want a2", v, found, err)
	}
}

func testGetMissing(t *testing.T, b physical.Backend) {
	e, err := b.Get(context.Background(), "nope")
	if err != nil || e != nil {
		t.Fatalf("Get(missing) = %v, %v; want nil, nil", e, err)
	}
	if err := b.Delete(context.Background(), "nope"); err != nil {
		t.Fatalf("Delete(missing) = %v; want nil", err)
	}
}

func testPutGetDelete(t *testing.T, b physical.Backend) {
	ctx := context.Background()
	val := []byte("v1")
	mustPut(t, b, "a/b", val)
	val[0] = 'X' // the backend must have copied the value
	mustGet(t, b, "a/b", "v1")
	mustPut(t, b, "a/b", []byte("v2"))
	mustGet(t, b, "a/b", "v2")

	got, err := b.Get(ctx, "a/b")
	if err != nil {
		t.Fatal(err)
	}
	got.Value[0] = 'Z' // nor may it hand out its own buffer
	mustGet(t, b, "a/b", "v2")

	mustPut(t, b, "empty", []byte{})
	e, err := b.Get(ctx, "empty")
	if err != nil || e == nil || len(e.Value) != 0 {
		t.Fatalf("Get(empty) = %v, %v; want an empty value", e, err)
	}

	if err := b.Delete(ctx, "a/b"); err != nil {
		t.Fatal(err)
	}
	if e, err := b.Get(ctx, "a/b"); err != nil || e != nil {
		t.Fatalf("Get after Delete = %v, %v", e, err)
	}
}

func testList(t *testing.T, b physical.Backend) {
	for _, k := range []string{
		"a", "b/c", "b/d/e", "b/d/f", "b/g", "b0", "b/d/h/i", "c/", "z/y/x",
		"b/", "b/d0",
	} {
		mustPut(t, b, k, []byte(k))
	}
	cases := map[string]struct {
		prefix string
		want   []string
	}{
		"root":          {"", []string{"a", "b/", "b0", "c/", "z/"}},
		"folder":        {"b/", []string{"", "c", "d/", "d0", "g"}},
		"nested":        {"b/d/", []string{"e", "f", "h/"}},
		"deep":          {"b/d/h/", []string{"i"}},
		"partial name":  {"b", []string{"/", "0"}},
		"missing":       {"nope/", []string{}},
		"empty leaf":    {"c/", []string{""}},
		"single folder": {"z/", []string{"y/"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := b.List(context.Background(), tc.prefix)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil {
				t.Fatal("List returned nil, want a non-nil slice")
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
			}
		})
	}
}

func testTransaction(t *testing.T, b physical.Backend) {
	tb, ok := b.(physical.Transactional)
	if !ok {
		t.Skip("backend is not transactional")
	}
	ctx := context.Background()
	mustPut(t, b, "gone", []byte("x"))
	err := tb.Transaction(ctx, []physical.TxnOp{
		{Entry: &physical.Entry{Key: "t/1", Value: []byte("one")}},
		{Entry: &physical.Entry{Key: "t/2", Value: []byte("two")}},
		{Delete: true, Entry: &physical.Entry{Key: "gone"}},
		{Entry: &physical.Entry{Key: "t/1", Value: []byte("uno")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, b, "t/1", "uno")
	mustGet(t, b, "t/2", "two")
	if e, err := b.Get(ctx, "gone"); err != nil || e != nil {
		t.Fatalf("Get(gone) = %v, %v", e, err)
	}

	// A transaction with an invalid op must apply nothing.
	err = tb.Transaction(ctx, []physical.TxnOp{
		{Entry: &physical.Entry{Key: "t/3", Value: []byte("three")}},
		{Entry: nil},
	})
	if err == nil {
		t.Fatal("Transaction with a nil entry succeeded")
	}
	if e, err := b.Get(ctx, "t/3"); err != nil || e != nil {
		t.Fatalf("partial transaction applied: %v, %v", e, err)
	}
}

func testConcurrent(t *testing.T, b physical.Backend) {
	const writers, each = 8, 20
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				k := fmt.Sprintf("w%d/%d", w, i)
				if err := b.Put(ctx, &physical.Entry{Key: k, Value: []byte(k)}); err != nil {
					errs <- err
					return
				}
				if _, err := b.List(ctx, fmt.Sprintf("w%d/", w)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	root, err := b.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(root) != writers {
		t.Fatalf("root has %d folders, want %d", len(root), writers)
	}
	for w := range writers {
		names, err := b.List(ctx, fmt.Sprintf("w%d/", w))
		if err != nil {
			t.Fatal(err)
		}
		if len(names) != each {
			t.Fatalf("w%d has %d keys, want %d", w, len(names), each)
		}
	}
}

func mustPut(t *testing.T, b physical.Backend, key string, val []byte) {
	t.Helper()
	if err := b.Put(context.Background(), &physical.Entry{Key: key, Value: val}); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func mustGet(t *testing.T, b physical.Backend, key, want string) {
	t.Helper()
	e, err := b.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if e == nil || !bytes.Equal(e.Value, []byte(want)) || e.Key != key {
		t.Fatalf("Get(%q) = %+v, want value %q", key, e, want)
	}
}
