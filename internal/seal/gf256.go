package seal

// Arithmetic in GF(2^8) with the AES polynomial x^8+x^4+x^3+x+1 (0x11b),
// the field OpenBao's and Vault's Shamir use, so shares interoperate.
//
// Every function runs in time independent of its inputs: no table lookups
// indexed by secret bytes (cache timing) and no branches on them. Share
// y-values and the secret pass through here.

// gfAdd adds (and subtracts) in GF(2^8).
func gfAdd(a, b byte) byte { return a ^ b }

// gfMul multiplies by shift-and-add over the eight bits of b, selecting with
// masks instead of branching.
func gfMul(a, b byte) byte {
	var r byte
	for i := 0; i < 8; i++ {
		r ^= a & -(b & 1) // add a when the low bit of b is set
		b >>= 1
		carry := -(a >> 7)            // 0xff when a's top bit is set
		a = (a << 1) ^ (0x1b & carry) // multiply a by x, reducing mod 0x11b
	}
	return r
}

// gfInv returns the multiplicative inverse of a, as a^254 (a^255 = 1), and
// 0 for 0. The chain of squarings and products is fixed, so it does not
// branch on a.
func gfInv(a byte) byte {
	a2 := gfMul(a, a)
	a3 := gfMul(a2, a)
	a6 := gfMul(a3, a3)
	a12 := gfMul(a6, a6)
	a15 := gfMul(a12, a3)
	a30 := gfMul(a15, a15)
	a60 := gfMul(a30, a30)
	a63 := gfMul(a60, a3)
	a126 := gfMul(a63, a63)
	a127 := gfMul(a126, a)
	return gfMul(a127, a127)
}

// gfDiv divides a by b; b must not be 0 (the callers guarantee distinct,
// non-zero x coordinates).
func gfDiv(a, b byte) byte { return gfMul(a, gfInv(b)) }
