package policy

import "strings"

// HasAccessUnder reports whether the ACL grants anything other than deny on
// some path under prefix (a mount path such as "secret/"), or on a glob that
// covers it. It answers "may this token learn that the mount exists", as the
// UI mount lookup needs; it is not an authorisation check for a request.
func (a *ACL) HasAccessUnder(prefix string) bool {
	if a.root {
		return true
	}
	grants := func(pm *perms) bool { return pm.caps != 0 && pm.caps&capDeny == 0 }
	for path, pm := range a.exact {
		if strings.HasPrefix(path, prefix) && grants(pm) {
			return true
		}
	}
	for p, pm := range a.prefix {
		if (strings.HasPrefix(p, prefix) || strings.HasPrefix(prefix, p)) && grants(pm) {
			return true
		}
	}
	for _, w := range a.wildcards {
		if grants(w.perms) && segmentsCouldMeet(w.segments, strings.Split(strings.TrimSuffix(prefix, "/"), "/")) {
			return true
		}
	}
	return false
}

// segmentsCouldMeet reports whether a "+" pattern and a path prefix agree on
// every segment both have, so that some path under the prefix may match.
func segmentsCouldMeet(pattern, prefix []string) bool {
	for i := 0; i < len(pattern) && i < len(prefix); i++ {
		p := pattern[i]
		last := i == len(pattern)-1
		switch {
		case p == "+":
		case last && strings.HasSuffix(p, "*"):
			return strings.HasPrefix(prefix[i], strings.TrimSuffix(p, "*")) || strings.HasPrefix(strings.TrimSuffix(p, "*"), prefix[i])
		case p != prefix[i]:
			return false
		}
	}
	return true
}
