package agent

import (
	"context"
	"strings"
)

// kvMount is what the server said about the mount holding a path.
type kvMount struct {
	path string // "secret/", with its trailing slash
	v2   bool
}

// kvPath rewrites a path on a KV version 2 mount as consul-template (and
// so Vault Agent) does, so templates written as `secret "secret/app"` read
// secret/data/app (and `secrets "secret/"` lists secret/metadata/). A path
// that already names data/ (or metadata/ for lists) is left alone, as is
// every path when the server will not say what mount it is on. The mount
// is asked about once (sys/internal/ui/mounts) and remembered.
func (r *renderer) kvPath(ctx context.Context, kind, path string) string {
	m, ok := r.mountOf(ctx, path)
	if !ok || !m.v2 {
		return path
	}
	rest := strings.TrimPrefix(path, strings.TrimSuffix(m.path, "/"))
	rest = strings.TrimPrefix(rest, "/")
	want := "data/"
	if kind == depList {
		want = "metadata/"
	}
	if rest+"/" == want || strings.HasPrefix(rest, want) {
		return path
	}
	return m.path + want + rest
}

func (r *renderer) mountOf(ctx context.Context, path string) (kvMount, bool) {
	for _, m := range r.mounts {
		if strings.HasPrefix(path+"/", m.path) {
			return m, true
		}
	}
	sec, err := r.client.Logical().ReadWithContext(ctx, "sys/internal/ui/mounts/"+path)
	if err != nil || sec == nil || sec.Data == nil {
		return kvMount{}, false
	}
	mp, _ := sec.Data["path"].(string)
	if mp == "" || !strings.HasPrefix(path+"/", mp) {
		return kvMount{}, false
	}
	typ, _ := sec.Data["type"].(string)
	opts, _ := sec.Data["options"].(map[string]any)
	version, _ := opts["version"].(string)
	m := kvMount{path: mp, v2: typ == "kv" && version == "2"}
	r.mounts = append(r.mounts, m)
	return m, true
}
