package logical

import "strings"

// CleanPath normalises a request path (already percent-decoded, without the
// "/v1/" prefix) once, before anything authorises or routes it: repeated
// slashes collapse, "." segments vanish, and ".." segments or control
// characters are rejected with a 400-class error. A trailing slash is kept
// because it is meaningful for LIST. The result never starts with "/".
func CleanPath(p string) (string, error) {
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c == 0x7f {
			return "", InvalidRequest("invalid request path: control character in path")
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
			return "", InvalidRequest(`invalid request path: ".." segments are not allowed`)
		}
		out = append(out, s)
	}
	clean := strings.Join(out, "/")
	if trailing && clean != "" {
		clean += "/"
	}
	return clean, nil
}
