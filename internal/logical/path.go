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
	if isClean(p) {
		// Nearly every request path is already clean: keep it as it is.
		return p, nil
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

// isClean reports whether CleanPath would return p unchanged: p is not
// empty and has no empty segment (but the one after a trailing slash),
// no "." and no "..".
func isClean(p string) bool {
	start := 0
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		switch seg := p[start:i]; seg {
		case "":
			if i < len(p) || i == 0 {
				return false
			}
		case ".", "..":
			return false
		}
		start = i + 1
	}
	return true
}
