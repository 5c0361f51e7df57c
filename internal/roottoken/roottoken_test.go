package roottoken_test

import (
	"errors"
	"strings"
	"testing"

	obroot "github.com/openbao/openbao/sdk/v2/helper/roottoken"

	"github.com/cofferhq/coffer/internal/roottoken"
)

// TestInteropWithOpenBao checks our encoding against the code behind
// `bao operator generate-root -decode`: each side decodes what the other
// encodes, and both encode alike.
func TestInteropWithOpenBao(t *testing.T) {
	cases := map[string]string{
		"coffer root token": "s.AbCdEfGhIjKlMnOpQrStUvWx",
		"all digits":        "s.012345678901234567890123",
		"short":             "x",
		"binary-ish":        "\x00\x01\xfe\xff",
	}
	for name, token := range cases {
		t.Run(name, func(t *testing.T) {
			otp, err := roottoken.GenerateOTP(len(token))
			if err != nil {
				t.Fatal(err)
			}
			enc, err := roottoken.Encode(token, otp)
			if err != nil {
				t.Fatal(err)
			}
			got, err := obroot.DecodeToken(enc, otp, len(otp))
			if err != nil || got != token {
				t.Fatalf("openbao DecodeToken = %q, %v; want %q", got, err, token)
			}
			theirs, err := obroot.EncodeToken(token, otp)
			if err != nil {
				t.Fatal(err)
			}
			if theirs != enc {
				t.Fatalf("encodings differ: ours %q, openbao's %q", enc, theirs)
			}
			if got, err := roottoken.Decode(theirs, otp); err != nil || got != token {
				t.Fatalf("Decode(openbao's) = %q, %v", got, err)
			}
		})
	}
}

func TestOTPLengthFitsARootToken(t *testing.T) {
	if n := len("s.") + 24; roottoken.OTPLength != n {
		t.Fatalf("OTPLength = %d, a root token has %d characters", roottoken.OTPLength, n)
	}
}

func TestGenerateOTP(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		otp, err := roottoken.GenerateOTP(roottoken.OTPLength)
		if err != nil {
			t.Fatal(err)
		}
		if len(otp) != roottoken.OTPLength {
			t.Fatalf("OTP of %d characters", len(otp))
		}
		if strings.Trim(otp, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != "" {
			t.Fatalf("OTP %q has characters outside base62", otp)
		}
		if seen[otp] {
			t.Fatal("the same OTP twice")
		}
		seen[otp] = true
	}
}

func TestDecodeTolerantInput(t *testing.T) {
	token, otp := "s.AbCdEfGhIjKlMnOpQrStUvWx", "01234567890123456789012345"
	enc, err := roottoken.Encode(token, otp)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct{ enc, otp string }{
		"as given":            {enc, otp},
		"surrounding space":   {"  " + enc + "\n", " " + otp + "\n"},
		"padded like StdEnc":  {enc + "==", otp},
		"padded with one '='": {enc + "=", otp},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got, err := roottoken.Decode(tc.enc, tc.otp); err != nil || got != token {
				t.Fatalf("Decode = %q, %v", got, err)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	cases := map[string]struct {
		f    func() error
		want error
	}{
		"encode empty token":   {func() error { _, err := roottoken.Encode("", "a"); return err }, roottoken.ErrEmpty},
		"encode empty otp":     {func() error { _, err := roottoken.Encode("a", ""); return err }, roottoken.ErrEmpty},
		"encode length":        {func() error { _, err := roottoken.Encode("ab", "a"); return err }, roottoken.ErrLength},
		"decode empty":         {func() error { _, err := roottoken.Decode("", "a"); return err }, roottoken.ErrEmpty},
		"decode empty otp":     {func() error { _, err := roottoken.Decode("YQ", " "); return err }, roottoken.ErrEmpty},
		"decode not base64":    {func() error { _, err := roottoken.Decode("!!!!", "abc"); return err }, roottoken.ErrEncoding},
		"decode wrong otp len": {func() error { _, err := roottoken.Decode("YWJj", "ab"); return err }, roottoken.ErrLength},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if err := tc.f(); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzDecode feeds operator input to Decode: it never panics, never quotes
// its input in an error, and whatever it accepts round-trips.
func FuzzDecode(f *testing.F) {
	enc, _ := roottoken.Encode("s.AbCdEfGhIjKlMnOpQrStUvWx", "01234567890123456789012345")
	f.Add(enc, "01234567890123456789012345")
	f.Add(enc+"==", "x")
	f.Add("", "")
	f.Add("%%%", "abc")
	f.Add("YWJj\n", "abc")
	f.Fuzz(func(t *testing.T, encoded, otp string) {
		tok, err := roottoken.Decode(encoded, otp)
		if err != nil {
			if len(encoded) > 3 && strings.Contains(err.Error(), encoded) {
				t.Fatalf("error %q quotes the input", err)
			}
			return
		}
		again, err := roottoken.Encode(tok, strings.TrimSpace(otp))
		if err != nil {
			t.Fatalf("Encode of a decoded token: %v", err)
		}
		if back, err := roottoken.Decode(again, otp); err != nil || back != tok {
			t.Fatalf("round trip %q -> %q, %v", tok, back, err)
		}
	})
}
