package hclsafe

import (
	"errors"
	"testing"

	"github.com/hashicorp/hcl/hcl/token"
)

func TestParse(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		src     string
		wantErr error
		anyErr  bool
	}{
		"hcl":          {src: `a = "b"`},
		"json":         {src: `{"a": "b"}`},
		"bad json":     {src: `{"\x00`, wantErr: ErrInvalidJSON},
		"syntax error": {src: `a = `, anyErr: false},
		"unclosed":     {src: `path "x" {`, anyErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.src))
			switch {
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			case tc.anyErr && err == nil:
				t.Fatal("no error")
			}
		})
	}
}

func TestTokenValue(t *testing.T) {
	t.Parallel()
	if v, err := TokenValue(token.Token{Type: token.NUMBER, Text: "42"}); err != nil || v != int64(42) {
		t.Fatalf("number: %v %v", v, err)
	}
	if _, err := TokenValue(token.Token{Type: token.NUMBER, Text: "99999999999999999999999"}); err == nil {
		t.Fatal("overflow accepted")
	}
	if v, err := TokenValue(token.Token{Type: token.STRING, Text: `"x"`}); err != nil || v != "x" {
		t.Fatalf("string: %v %v", v, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`a = "b"`, `{"a":1}`, `path "x" { capabilities = ["read"] }`, `{"\x00`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = Parse([]byte(s)) // must not panic
	})
}
