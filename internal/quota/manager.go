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
	rules   []*rule
	exempt  exemptSet
	headers bool
}

// Decision is what Take decided for one request.
type Decision struct {
	// Allowed is false when a quota refuses the request.
	Allowed bool
	// Quota names the quota that decided; empty when none covers the path
	// or the path is exempt.
	Quota string
	// RetryAfter is how long until a refused client may try again.
	RetryAfter time.Duration
	// Counted is true when Limit, Remaining and Reset describe the
	// client's bucket after this request: whenever a quota decided, except
	// while block_interval keeps the client out.
	Counted bool
	// Limit is how many requests the bucket holds when full; Remaining how
	// many it holds now.
	Limit, Remaining int
	// Reset is how long until the bucket is full again.
	Reset time.Duration
	// Headers is enable_rate_limit_response_headers: whether the caller
	// should report the counts to the client.
	Headers bool
}

// New returns an empty Manager over s, the view its quotas live in. Call
// Load to read them.
func New(s logical.Storage) *Manager {
	return &Manager{storage: s, now: time.Now, maxClients: DefaultMaxClients, rules: map[string]*rule{}, config: defaultConfig()}
}

// defaultConfig is the configuration until an operator writes one.
func defaultConfig() Config {
	return Config{ExemptPaths: append([]string{}, DefaultExemptPaths...)}
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
	if conf, err = NormalizeConfig(conf); err != nil {
		return fmt.Errorf("load quota config: %w", err)
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
	m.rules, m.config = map[string]*rule{}, defaultConfig()
	m.publish()
}

// publish builds the snapshot Allow reads. Called with mu held.
func (m *Manager) publish() {
	if len(m.rules) == 0 {
		m.snap.Store(nil)
		return
	}
	s := &snapshot{exempt: compileExempt(m.config.ExemptPaths), headers: m.config.ResponseHeaders}
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
// client may try again and quotaName is the quota that refused it.
func (m *Manager) Allow(path, clientIP string) (ok bool, retryAfter time.Duration, quotaName string) {
	if m.snap.Load() == nil {
		return true, 0, ""
	}
	d := m.take(path, clientIP)
	if d.Allowed {
		return true, 0, ""
	}
	return false, d.RetryAfter, d.Quota
}

// Take is Allow with the whole decision, including the bucket counts for
// the X-Ratelimit-* headers. A path that AlwaysExempt reports, or that the
// configured exempt paths cover, is allowed without a quota. With no quota
// at all it is a single atomic load; it does not allocate.
func (m *Manager) Take(path, clientIP string) Decision {
	if m.snap.Load() == nil {
		return Decision{Allowed: true}
	}
	return m.take(path, clientIP)
}

// take is Take past the fast path, kept apart so that Take inlines to an
// atomic load at the call site (a returned Decision costs a call otherwise).
// It loads the snapshot again: quotas may have gone meanwhile.
func (m *Manager) take(path, clientIP string) Decision {
	s := m.snap.Load()
	if s == nil || AlwaysExempt(path) || s.exempt.covers(path) {
		return Decision{Allowed: true}
	}
	for _, r := range s.rules {
		if !r.covers(path) {
			continue
		}
		d := r.allow(clientIP, m.now())
		d.Headers = s.headers
		return d
	}
	return Decision{Allowed: true}
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
