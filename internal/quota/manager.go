package quota

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// Storage keys inside the view the Manager is given.
const (
	configKey   = "config"
	quotaPrefix = TypeRateLimit + "/"
)

// Manager holds the quotas and enforces them. It is safe for concurrent use:
// Allow takes no lock while no quota exists, and otherwise only the lock of
// the one rule that decides the request; changes are serialised and
// published as an immutable snapshot.
type Manager struct {
	storage    logical.Storage
	now        func() time.Time
	maxClients int

	// mu serialises Load, Reset and changes.
	mu     sync.Mutex
	rules  map[string]*rule // by quota name
	config Config
	// snap is what Allow reads; nil while no quota exists.
	snap atomic.Pointer[snapshot]
}

// snapshot is an immutable view of the rules, most specific first.
type snapshot struct {
	rules  []*rule
	exempt []string
}

// New returns an empty Manager over s, the view its quotas live in. Call
// Load to read them.
func New(s logical.Storage) *Manager {
	return &Manager{storage: s, now: time.Now, maxClients: DefaultMaxClients, rules: map[string]*rule{}, config: Config{ExemptPaths: []string{}}}
}

// Load replaces whatever the Manager holds with what storage holds. Every
// client starts with a full bucket.
func (m *Manager) Load(ctx context.Context) error {
	var conf Config
	if _, err := logical.GetJSON(ctx, m.storage, configKey, &conf); err != nil {
		return fmt.Errorf("load quota config: %w", err)
	}
	names, err := m.storage.List(ctx, quotaPrefix)
	if err != nil {
		return fmt.Errorf("list quotas: %w", err)
	}
	rules := make(map[string]*rule, len(names))
	for _, n := range names {
		var q Quota
		if _, err := logical.GetJSON(ctx, m.storage, quotaPrefix+n, &q); err != nil {
			return fmt.Errorf("load quota: %w", err)
		}
		if q, err = Normalize(q); err != nil {
			return fmt.Errorf("load quota %q: %w", n, err)
		}
		rules[q.Name] = newRule(q, m.maxClients)
	}
	if conf.ExemptPaths == nil {
		conf.ExemptPaths = []string{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rules, m.config = rules, conf
	m.publish()
	return nil
}

// Reset forgets every quota and client, as on seal; storage is untouched.
func (m *Manager) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rules, m.config = map[string]*rule{}, Config{ExemptPaths: []string{}}
	m.publish()
}

// publish builds the snapshot Allow reads. Called with mu held.
func (m *Manager) publish() {
	if len(m.rules) == 0 {
		m.snap.Store(nil)
		return
	}
	s := &snapshot{exempt: m.config.ExemptPaths}
	for _, r := range m.rules {
		s.rules = append(s.rules, r)
	}
	sort.Slice(s.rules, func(i, j int) bool {
		a, b := s.rules[i], s.rules[j]
		if a.specificity() != b.specificity() {
			return a.specificity() > b.specificity()
		}
		return a.q.Name < b.q.Name
	})
	m.snap.Store(s)
}

// Allow spends one request of clientIP's allowance under the most specific
// quota covering path (a cleaned request path, such as "secret/data/x"). It
// returns ok=true with no quota name when no quota covers the path or the
// path is exempt. When it returns false, retryAfter is how long until the
// client may try again and quotaName is the quota that refused it. With no
// quota at all it is a single atomic load.
func (m *Manager) Allow(path, clientIP string) (ok bool, retryAfter time.Duration, quotaName string) {
	s := m.snap.Load()
	if s == nil {
		return true, 0, ""
	}
	for _, e := range s.exempt {
		if e == path || (strings.HasSuffix(e, "*") && strings.HasPrefix(path, e[:len(e)-1])) {
			return true, 0, ""
		}
	}
	for _, r := range s.rules {
		if !r.covers(path) {
			continue
		}
		ok, wait := r.allow(clientIP, m.now())
		if ok {
			return true, 0, ""
		}
		return false, wait, r.q.Name
	}
	return true, 0, ""
}

// List returns the quota names in lexical order, empty (not nil) when none.
func (m *Manager) List() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.rules))
	for n := range m.rules {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Get returns the quota called name, or found=false.
func (m *Manager) Get(name string) (q Quota, found bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rules[name]
	if !ok {
		return Quota{}, false
	}
	return r.q, true
}

// Put creates or replaces a quota after Normalize, persisting it before it
// takes effect. A changed quota starts every client afresh; the others keep
// their buckets. Two quotas may not cover the same path.
func (m *Manager) Put(ctx context.Context, q Quota) error {
	q, err := Normalize(q)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, r := range m.rules {
		if name != q.Name && r.q.Path == q.Path {
			return logical.InvalidRequest("quota %q already covers path %q", name, q.Path)
		}
	}
	if err := logical.PutJSON(ctx, m.storage, quotaPrefix+q.Name, q); err != nil {
		return fmt.Errorf("write quota: %w", err)
	}
	if old, ok := m.rules[q.Name]; !ok || old.q != q {
		m.rules[q.Name] = newRule(q, m.maxClients)
	}
	m.publish()
	return nil
}

// Delete removes a quota; deleting one that does not exist is not an error.
func (m *Manager) Delete(ctx context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.storage.Delete(ctx, quotaPrefix+name); err != nil {
		return fmt.Errorf("delete quota: %w", err)
	}
	delete(m.rules, name)
	m.publish()
	return nil
}

// Config returns the quota configuration.
func (m *Manager) Config() Config {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.config
	c.ExemptPaths = append([]string{}, c.ExemptPaths...)
	return c
}

// SetConfig replaces the quota configuration after NormalizeConfig,
// persisting it before it takes effect.
func (m *Manager) SetConfig(ctx context.Context, c Config) error {
	c, err := NormalizeConfig(c)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := logical.PutJSON(ctx, m.storage, configKey, c); err != nil {
		return fmt.Errorf("write quota config: %w", err)
	}
	m.config = c
	m.publish()
	return nil
}

// DeleteUnder deletes every quota whose path lies under prefix (a mount
// path such as "secret/"), as when that mount is disabled. It returns how
// many went.
func (m *Manager) DeleteUnder(ctx context.Context, prefix string) (int, error) {
	n := 0
	for _, name := range m.List() {
		q, ok := m.Get(name)
		if !ok || q.Path == "" || !strings.HasPrefix(q.Path, prefix) {
			continue
		}
		if err := m.Delete(ctx, name); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
