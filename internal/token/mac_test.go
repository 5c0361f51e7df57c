package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash/fnv"
	"strconv"
	"sync"
	"testing"
)

// TestMacReusesKeyedState checks that the pooled HMAC states give what a
// freshly keyed HMAC gives, from many goroutines at once, and that the
// written-out FNV of stripe is hash/fnv's.
func TestMacReusesKeyedState(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	want := func(v string) string {
		m := hmac.New(sha256.New, h.s.salt)
		m.Write([]byte(v))
		return hex.EncodeToString(m.Sum(nil))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				v := "s." + strconv.Itoa(g) + "-" + strconv.Itoa(i)
				if got := h.s.mac(v); got != want(v) {
					t.Errorf("mac(%q) = %s, want %s", v, got, want(v))
					return
				}
			}
		})
	}
	wg.Wait()
	for _, v := range []string{"", "a", h.s.mac("x")} {
		f := fnv.New32a()
		f.Write([]byte(v))
		if got := stripe(v); got != f.Sum32()%lockStripes {
			t.Fatalf("stripe(%q) = %d, want %d", v, got, f.Sum32()%lockStripes)
		}
	}
}

func BenchmarkMac(b *testing.B) {
	h := newHarness(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = h.s.mac("s.ABCDEFGHIJKLMNOPQRSTUVWX")
	}
}
