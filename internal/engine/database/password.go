package database

import (
	"crypto/rand"
	"math/big"
)

// Vault's default password policy: 20 characters from letters, digits and
// "-", with at least one lowercase letter, one uppercase letter, one digit
// and one "-". Every character is safe in a SQL string literal, a URL and
// a DSN without escaping.
const (
	passwordLength = 20
	lowers         = "abcdefghijklmnopqrstuvwxyz"
	uppers         = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	digits         = "0123456789"
	dash           = "-"
)

// newPassword returns a password of the default policy.
func newPassword() string {
	b := []byte(randomFrom(lowers, 1) + randomFrom(uppers, 1) + randomFrom(digits, 1) + dash +
		randomFrom(lowers+uppers+digits+dash, passwordLength-4))
	// Shuffle, so that the required characters are not always first.
	for i := len(b) - 1; i > 0; i-- {
		j, _ := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		b[i], b[j.Int64()] = b[j.Int64()], b[i]
	}
	return string(b)
}
