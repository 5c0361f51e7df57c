package dbdriver

import (
	"cmp"
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
)

// Redacted is what a password is replaced with in an error message.
const Redacted = "[password]"

// scrubbed is an error whose message has had secrets removed. It unwraps
// only to the sentinels the original matched, never to the original, so
// that nothing down the chain can print a secret again.
type scrubbed struct {
	msg   string
	kinds []error
}

func (e *scrubbed) Error() string   { return e.msg }
func (e *scrubbed) Unwrap() []error { return e.kinds }

// kinds are the sentinels a scrubbed error keeps.
var kinds = []error{ErrUnavailable, ErrBadConfig, ErrRollbackFailed, ErrClosed, context.Canceled, context.DeadlineExceeded}

// Scrub returns err with every non-empty secret, in every form a driver or
// a URL parser might print it (as is, URL-escaped, SQL-quoted), replaced by
// Redacted. The result still matches (errors.Is) the package's sentinels
// and context errors that err matched. Scrub(nil) is nil.
func Scrub(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	out := &scrubbed{msg: ScrubString(err.Error(), secrets...)}
	for _, k := range kinds {
		if errors.Is(err, k) {
			out.kinds = append(out.kinds, k)
		}
	}
	return out
}

// ScrubString is Scrub for a string.
func ScrubString(s string, secrets ...string) string {
	var forms []string
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		forms = append(forms, sec, url.QueryEscape(sec), url.PathEscape(sec), EscapeURLComponent(sec),
			strings.ReplaceAll(sec, "'", "''"), strings.ReplaceAll(sec, `\`, `\\`))
	}
	// Longest first, so that a form containing another is replaced whole.
	slices.SortFunc(forms, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	for _, f := range forms {
		s = strings.ReplaceAll(s, f, Redacted)
	}
	return s
}

// EscapeURLComponent percent-encodes every byte outside RFC 3986's
// unreserved set, so that the result is safe as the user or password of a
// URL (and in any other URL component) and decodes back to s.
func EscapeURLComponent(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
