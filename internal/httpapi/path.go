package httpapi

import (
	"fmt"
	"strings"
)

// CleanPath normalises a request path (already percent-decoded, without the
// "/v1/" prefix) once, before anything authorises or routes it: repeated
// slashes collapse, "." segments vanish, and ".." segments or control
// characters are rejected. A trailing slash is kept because it is
// meaningful for LIST. The result never starts with "/".
func CleanPath(p string) (string, error) {
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c == 0x7f {
			return "", fmt.Errorf("%w: control character in path", errBadPath)
		}
	}
	trailing := strings.HasSuffix(p, "/")
	segs := strings.Split(p, "/")
	out := segs[:0]
	for _, s := range segs {
		switch s {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("%w: %q segments are not allowed", errBadPath, "..")
		}
		out = append(out, s)
	}
	clean := strings.Join(out, "/")
	if trailing && clean != "" {
		clean += "/"
	}
	return clean, nil
}
