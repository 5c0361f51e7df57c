package seal

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	obshamir "github.com/openbao/openbao/sdk/v2/helper/shamir"

	"github.com/cofferhq/coffer/internal/logical"
)

// refMul is a plain, branching multiply used only to check gfMul.
func refMul(a, b byte) byte {
	var r byte
	for b > 0 {
		if b&1 == 1 {
			r ^= a
		}
		hi := a & 0x80
		a <<= 1
		if hi != 0 {
			a ^= 0x1b
		}
		b >>= 1
	}
	return r
}

func TestFieldArithmetic(t *testing.T) {
	for a := range 256 {
		for b := range 256 {
			if got, want := gfMul(byte(a), byte(b)), refMul(byte(a), byte(b)); got != want {
				t.Fatalf("gfMul(%d, %d) = %d, want %d", a, b, got, want)
			}
		}
		if a == 0 {
			if gfInv(0) != 0 {
				t.Fatal("gfInv(0) != 0")
			}
			continue
		}
		if p := gfMul(byte(a), gfInv(byte(a))); p != 1 {
			t.Fatalf("%d * inv(%d) = %d", a, a, p)
		}
	}
	if gfMul(0x53, 0xca) != 0x01 { // the worked example from FIPS-197
		t.Fatal("0x53 * 0xca != 1 in the AES field")
	}
}

func randomSecret(t testing.TB, n int) []byte {
	s := make([]byte, n)
	if _, err := rand.Read(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// subsets calls f with every subset of shares of size k, or a sample of
// them when there are too many.
func subsets(shares [][]byte, k int, f func([][]byte)) {
	count := 0
	var rec func(start int, chosen [][]byte)
	rec = func(start int, chosen [][]byte) {
		if count >= 200 {
			return
		}
		if len(chosen) == k {
			count++
			f(append([][]byte(nil), chosen...))
			return
		}
		// Stop where too few shares remain to complete a subset.
		for i := start; len(shares)-i >= k-len(chosen); i++ {
			rec(i+1, append(chosen, shares[i]))
		}
	}
	rec(0, nil)
}

var splitCases = map[string]struct{ n, t int }{
	"2 of 2":     {2, 2},
	"2 of 3":     {3, 2},
	"3 of 5":     {5, 3},
	"5 of 5":     {5, 5},
	"4 of 10":    {10, 4},
	"255 of 255": {255, 255},
	"2 of 255":   {255, 2},
}

func TestSplitCombineAnySubset(t *testing.T) {
	for name, tc := range splitCases {
		t.Run(name, func(t *testing.T) {
			secret := randomSecret(t, 32)
			shares, err := Split(secret, tc.n, tc.t)
			if err != nil {
				t.Fatal(err)
			}
			if len(shares) != tc.n {
				t.Fatalf("got %d shares", len(shares))
			}
			for _, s := range shares {
				if len(s) != len(secret)+1 || s[len(secret)] == 0 {
					t.Fatalf("bad share layout: len %d", len(s))
				}
			}
			subsets(shares, tc.t, func(sub [][]byte) {
				got, err := Combine(sub)
				if err != nil || !bytes.Equal(got, secret) {
					t.Fatalf("Combine(%d shares) = %x, %v", len(sub), got, err)
				}
			})
			if tc.t > 2 {
				got, err := Combine(shares[:tc.t-1])
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Equal(got, secret) {
					t.Fatal("fewer than threshold shares rebuilt the secret")
				}
			}
		})
	}
}

func TestInteropWithOpenBao(t *testing.T) {
	for name, tc := range splitCases {
		t.Run(name, func(t *testing.T) {
			secret := randomSecret(t, 33)

			ours, err := Split(secret, tc.n, tc.t)
			if err != nil {
				t.Fatal(err)
			}
			subsets(ours, tc.t, func(sub [][]byte) {
				got, err := obshamir.Combine(sub)
				if err != nil || !bytes.Equal(got, secret) {
					t.Fatalf("openbao Combine(our shares) = %x, %v", got, err)
				}
			})

			theirs, err := obshamir.Split(secret, tc.n, tc.t)
			if err != nil {
				t.Fatal(err)
			}
			subsets(theirs, tc.t, func(sub [][]byte) {
				got, err := Combine(sub)
				if err != nil || !bytes.Equal(got, secret) {
					t.Fatalf("Combine(openbao shares) = %x, %v", got, err)
				}
			})
		})
	}
}

func TestOneOfOne(t *testing.T) {
	secret := randomSecret(t, 32)
	shares, err := Split(secret, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(shares) != 1 || !bytes.Equal(shares[0], secret) {
		t.Fatalf("1-of-1 share is not the secret itself")
	}
	shares[0][0] ^= 1 // the share must be a copy
	if shares[0][0] == secret[0] {
		t.Fatal("share aliases the secret")
	}
	shares[0][0] ^= 1
	got, err := Combine(shares)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Combine(1 share) = %x, %v", got, err)
	}
	if _, err := obshamir.Combine(shares); err == nil {
		t.Fatal("openbao now accepts one share; revisit the 1-of-1 special case")
	}
}

func TestSplitErrors(t *testing.T) {
	cases := map[string]struct {
		secret []byte
		n, t   int
		want   error
	}{
		"threshold 1 of 2":    {[]byte("s"), 2, 1, ErrParts},
		"threshold 0":         {[]byte("s"), 2, 0, ErrParts},
		"threshold > parts":   {[]byte("s"), 2, 3, ErrParts},
		"256 parts":           {[]byte("s"), 256, 2, ErrParts},
		"negative":            {[]byte("s"), -1, -1, ErrParts},
		"zero":                {[]byte("s"), 0, 0, ErrParts},
		"1 of 1 empty":        {nil, 1, 1, ErrEmptySecret},
		"empty secret":        {nil, 3, 2, ErrEmptySecret},
		"parts 1 threshold 2": {[]byte("s"), 1, 2, ErrParts},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Split(tc.secret, tc.n, tc.t)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("err = %v does not map to a 400", err)
			}
		})
	}
}

func TestCombineErrors(t *testing.T) {
	shares, err := Split([]byte("secret"), 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	zeroX := append([]byte(nil), shares[1]...)
	zeroX[len(zeroX)-1] = 0
	many := make([][]byte, 256)
	for i := range many {
		many[i] = []byte{1, byte(i)}
	}
	cases := map[string]struct {
		parts [][]byte
		want  error
	}{
		"none":           {nil, ErrNoShares},
		"one empty":      {[][]byte{{}}, ErrShareLength},
		"mixed lengths":  {[][]byte{shares[0], shares[1][:3]}, ErrShareLength},
		"too short":      {[][]byte{{1}, {2}}, ErrShareLength},
		"duplicate":      {[][]byte{shares[0], shares[0]}, ErrDuplicateShare},
		"zero index":     {[][]byte{shares[0], zeroX}, ErrShareIndex},
		"256 shares":     {many, ErrDuplicateShare},
		"empty and full": {[][]byte{{}, shares[0]}, ErrShareLength},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Combine(tc.parts); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func FuzzCombine(f *testing.F) {
	shares, _ := Split([]byte("fuzz seed secret"), 3, 2)
	f.Add(shares[0], shares[1], shares[2], uint8(2))
	f.Add([]byte{}, []byte{}, []byte{}, uint8(0))
	f.Add([]byte{1}, []byte{1}, []byte{2}, uint8(3))
	f.Add([]byte{0, 0}, []byte{0, 0}, []byte{0, 1}, uint8(3))
	f.Add(shares[0], shares[1][:5], shares[2], uint8(3))
	f.Fuzz(func(t *testing.T, a, b, c []byte, n uint8) {
		parts := [][]byte{a, b, c}[:n%4]
		secret, err := Combine(parts)
		if err != nil {
			return
		}
		if len(parts) >= 2 && len(secret) != len(a)-1 {
			t.Fatalf("secret of %d bytes from shares of %d", len(secret), len(a))
		}
	})
}

func BenchmarkCombine(b *testing.B) {
	for _, tc := range []struct{ n, t int }{{5, 3}, {10, 10}} {
		b.Run(fmt.Sprintf("%d of %d", tc.t, tc.n), func(b *testing.B) {
			shares, err := Split(randomSecret(b, 32), tc.n, tc.t)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := Combine(shares[:tc.t]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
