package quota

import (
	"context"
	"strings"
)

// MovePath re-points every quota whose path lies under from (a mount's
// route path, such as "secret/") to the same place under to, as when that
// mount is moved (sys/remount), so that the mount keeps its limits and a
// new mount at the old path does not inherit them. It is idempotent and
// returns how many quotas it changed; each changed quota starts its clients
// afresh, as any change does.
func (m *Manager) MovePath(ctx context.Context, from, to string) (int, error) {
	if from == "" || to == "" || from == to {
		return 0, nil
	}
	n := 0
	for _, name := range m.List() {
		q, ok := m.Get(name)
		if !ok || q.Path == "" || !strings.HasPrefix(q.Path, from) {
			continue
		}
		q.Path = to + strings.TrimPrefix(q.Path, from)
		if err := m.Put(ctx, q); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
