package roottoken

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"strings"
)

// OTPLength is the length of a generated OTP, and so of every root token
// this server mints through root generation: "s." and 24 base62
// characters. test/e2e holds the token store to it.
const OTPLength = 26

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// GenerateOTP returns n characters drawn uniformly from the 62 letters and
// digits by crypto/rand, as the server returns from sys/generate-root/attempt.
func GenerateOTP(n int) (string, error) {
	var b strings.Builder
	b.Grow(n)
	buf := make([]byte, 64)
	for b.Len() < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, c := range buf {
			// 248 = 4*62: rejecting the top 8 values keeps every letter
			// equally likely.
			if c < 248 && b.Len() < n {
				b.WriteByte(base62[c%62])
			}
		}
	}
	return b.String(), nil
}

// Encode XORs token with otp, byte by byte, and returns the result in
// unpadded standard base64. The two must have the same length.
func Encode(token, otp string) (string, error) {
	if token == "" || otp == "" {
		return "", ErrEmpty
	}
	if len(token) != len(otp) {
		return "", ErrLength
	}
	x := make([]byte, len(token))
	subtle.XORBytes(x, []byte(token), []byte(otp))
	return base64.RawStdEncoding.EncodeToString(x), nil
}

// Decode undoes Encode: it base64-decodes encoded (padding and surrounding
// white space tolerated, since operators paste it) and XORs it with otp.
func Decode(encoded, otp string) (string, error) {
	encoded = strings.TrimRight(strings.TrimSpace(encoded), "=")
	otp = strings.TrimSpace(otp)
	if encoded == "" || otp == "" {
		return "", ErrEmpty
	}
	x, err := base64.RawStdEncoding.DecodeString(encoded)
	if err != nil {
		return "", ErrEncoding
	}
	if len(x) != len(otp) {
		return "", ErrLength
	}
	subtle.XORBytes(x, x, []byte(otp))
	return string(x), nil
}
