package policy

import (
	"strings"
)

// patternDescr holds what Vault's priority rules look at when several
// non-exact patterns match the same path.
type patternDescr struct {
	// firstWildcard is the byte offset of the first "+" segment or of the
	// trailing "*".
	firstWildcard int
	// isPrefix is true when the pattern ends in "*".
	isPrefix bool
	// wildcards counts "+" segments.
	wildcards int
	// path is the pattern without its trailing "*".
	path string
}

// compare orders patterns by priority: positive when d beats o. In order:
// a later first wildcard wins; not ending in "*" wins; fewer "+" segments
// win; longer wins; lexicographically larger wins. Distinct patterns never
// tie.
func (d patternDescr) compare(o patternDescr) int {
	switch {
	case d.firstWildcard != o.firstWildcard:
		return d.firstWildcard - o.firstWildcard
	case d.isPrefix != o.isPrefix:
		if d.isPrefix {
			return -1
		}
		return 1
	case d.wildcards != o.wildcards:
		return o.wildcards - d.wildcards
	case len(d.path) != len(o.path):
		return len(d.path) - len(o.path)
	}
	return strings.Compare(d.path, o.path)
}

// wildcardRule is a pattern with at least one "+" segment, split once at
// compile time so that matching does not allocate.
type wildcardRule struct {
	descr    patternDescr
	segments []string
	perms    *perms
}

// hasSegmentWildcard reports whether a pattern (without its trailing "*")
// has a segment that is exactly "+".
func hasSegmentWildcard(pattern string) bool {
	for seg := range strings.SplitSeq(pattern, "/") {
		if seg == "+" {
			return true
		}
	}
	return false
}

func newWildcardRule(pattern string, pm *perms) *wildcardRule {
	body, isPrefix := strings.CutSuffix(pattern, "*")
	w := &wildcardRule{
		descr:    patternDescr{isPrefix: isPrefix, path: body, firstWildcard: -1},
		segments: strings.Split(body, "/"),
		perms:    pm,
	}
	offset := 0
	for _, seg := range w.segments {
		if seg == "+" {
			if w.descr.firstWildcard < 0 {
				w.descr.firstWildcard = offset
			}
			w.descr.wildcards++
		}
		offset += len(seg) + 1
	}
	return w
}

// match reports whether path matches the rule: "+" is exactly one segment
// (possibly empty), a prefix rule's last segment is a string prefix and it
// may be followed by more segments, and otherwise the segment counts must
// be equal.
func (w *wildcardRule) match(path string) bool {
	pos, done := 0, false
	for i, seg := range w.segments {
		if done {
			return false
		}
		var part string
		if end := strings.IndexByte(path[pos:], '/'); end < 0 {
			part, done = path[pos:], true
		} else {
			part, pos = path[pos:pos+end], pos+end+1
		}
		switch {
		case seg == "+", seg == part:
		case w.descr.isPrefix && i == len(w.segments)-1 && strings.HasPrefix(part, seg):
		default:
			return false
		}
	}
	return done || w.descr.isPrefix
}
