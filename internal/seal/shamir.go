package seal

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
)

// MaxShares is the most shares Split can make: x coordinates are the
// non-zero bytes.
const MaxShares = 255

// Split divides secret into parts shares, any threshold of which rebuild it
// with Combine and fewer of which reveal nothing about it.
//
// Each share is len(secret)+1 bytes: one y value per secret byte, then the
// share's x coordinate. That is the layout of OpenBao's (and Vault's)
// helper/shamir, so shares from either combine with the other's Combine.
// Parts and threshold must satisfy 2 <= threshold <= parts <= 255, or both be
// 1: then the only share is a copy of the secret itself, without an x byte,
// which is what Vault hands out for a single unseal key (OpenBao's Combine
// does not accept a single share).
func Split(secret []byte, parts, threshold int) ([][]byte, error) {
	if !validParts(parts, threshold) {
		return nil, ErrParts
	}
	if len(secret) == 0 {
		return nil, ErrEmptySecret
	}
	if parts == 1 {
		return [][]byte{append([]byte(nil), secret...)}, nil
	}
	xs, err := shuffledXs()
	if err != nil {
		return nil, err
	}
	out := make([][]byte, parts)
	for i := range out {
		out[i] = make([]byte, len(secret)+1)
		out[i][len(secret)] = xs[i]
	}
	// One random polynomial of degree threshold-1 per secret byte, with
	// the byte as its constant term.
	coeffs := make([]byte, threshold)
	defer clear(coeffs)
	for idx, s := range secret {
		coeffs[0] = s
		if _, err := rand.Read(coeffs[1:]); err != nil {
			return nil, fmt.Errorf("generate polynomial: %w", err)
		}
		for i := range out {
			out[i][idx] = evaluate(coeffs, xs[i])
		}
	}
	return out, nil
}

func validParts(parts, threshold int) bool {
	if parts == 1 && threshold == 1 {
		return true
	}
	return threshold >= 2 && threshold <= parts && parts <= MaxShares
}

// evaluate computes the polynomial with the given coefficients (constant
// first) at x, by Horner's rule.
func evaluate(coeffs []byte, x byte) byte {
	var y byte
	for i := len(coeffs) - 1; i >= 0; i-- {
		y = gfAdd(gfMul(y, x), coeffs[i])
	}
	return y
}

// shuffledXs returns the 255 non-zero bytes in a uniformly random order, so
// share indexes say nothing about how many shares exist.
func shuffledXs() ([]byte, error) {
	xs := make([]byte, MaxShares)
	for i := range xs {
		xs[i] = byte(i + 1)
	}
	for i := len(xs) - 1; i > 0; i-- {
		j, err := uniform(i + 1)
		if err != nil {
			return nil, err
		}
		xs[i], xs[j] = xs[j], xs[i]
	}
	return xs, nil
}

// uniform returns a uniformly random int in [0, n) for n <= 256, rejecting
// bytes that would bias the result.
func uniform(n int) (int, error) {
	limit := 256 - 256%n
	var b [1]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("shuffle share indexes: %w", err)
		}
		if int(b[0]) < limit {
			return int(b[0]) % n, nil
		}
	}
}

// Combine rebuilds the secret from shares made by Split (ours or
// OpenBao's). Given fewer than the threshold of shares it returns a wrong
// value, not an error: only the caller can tell, by trying the result. A
// single share is taken to be the secret itself (the 1-of-1 case of Split)
// and returned as a copy. Shares of different lengths, repeated or zero
// indexes are errors. Combine never panics on malformed input.
func Combine(parts [][]byte) ([]byte, error) {
	switch {
	case len(parts) == 0:
		return nil, ErrNoShares
	case len(parts) == 1:
		if len(parts[0]) == 0 {
			return nil, ErrShareLength
		}
		return append([]byte(nil), parts[0]...), nil
	case len(parts) > MaxShares:
		return nil, ErrDuplicateShare // 256 or more shares must repeat an index
	}
	n := len(parts[0])
	if n < 2 {
		return nil, ErrShareLength
	}
	xs := make([]byte, len(parts))
	var seen [256]bool
	for i, p := range parts {
		if len(p) != n {
			return nil, ErrShareLength
		}
		x := p[n-1]
		if x == 0 {
			return nil, ErrShareIndex
		}
		if seen[x] {
			return nil, ErrDuplicateShare
		}
		seen[x] = true
		xs[i] = x
	}
	// The Lagrange basis at 0 depends only on the public x coordinates, so
	// it is computed once rather than per byte.
	basis := make([]byte, len(xs))
	for i := range xs {
		l := byte(1)
		for j := range xs {
			if i != j {
				l = gfMul(l, gfDiv(xs[j], gfAdd(xs[i], xs[j])))
			}
		}
		basis[i] = l
	}
	secret := make([]byte, n-1)
	for idx := range secret {
		var s byte
		for i, p := range parts {
			s = gfAdd(s, gfMul(p[idx], basis[i]))
		}
		secret[idx] = s
	}
	return secret, nil
}

// sharesEqual compares two shares in constant time.
func sharesEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
