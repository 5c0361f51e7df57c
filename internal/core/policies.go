package core

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/cofferhq/coffer/internal/identity"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/policy"
)

// aclCacheSize bounds the built ACLs kept in memory, one per distinct set
// of policy names (and per entity version, for sets with a templated
// policy). Tokens can name any set (even of policies that do not
// exist), so without a bound random sets would grow memory without limit;
// the least recently used set is dropped and rebuilt when needed again.
const aclCacheSize = 1024

// policyStore keeps policy text in the barrier and parsed policies and
// built ACLs in memory. Parsed policies are bounded by the stored ones;
// built ACLs by aclCacheSize. Every write clears the caches, so a policy
// change applies to the very next request. Safe for concurrent use.
type policyStore struct {
	storage logical.Storage

	mu     sync.RWMutex
	gen    uint64 // bumped by every write, so a racing load cannot cache stale text
	parsed map[string]*policy.Policy
	// acls and resolved are safe for concurrent use themselves: acls per
	// set of names, resolved per set and entity version (templated sets).
	acls     *lru.Cache[string, *aclEntry]
	resolved *lru.Cache[resolvedKey, *policy.ACL]
	// moves counts the sets put at the front of acls (added or promoted).
	moves atomic.Uint64
}

// resolvedKey names the ACL of a templated policy set as one version of
// one entity sees it; entity is "" for tokens without one.
type resolvedKey struct {
	set      string
	entity   string
	revision uint64
}

func newPolicyStore(s logical.Storage) *policyStore {
	acls, err := lru.New[string, *aclEntry](aclCacheSize)
	if err != nil {
		panic(err) // only for a size below 1
	}
	resolved, err := lru.New[resolvedKey, *policy.ACL](aclCacheSize)
	if err != nil {
		panic(err)
	}
	return &policyStore{storage: s, parsed: map[string]*policy.Policy{}, acls: acls, resolved: resolved}
}

func (ps *policyStore) invalidate() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.gen++
	ps.parsed = map[string]*policy.Policy{}
	ps.acls.Purge()
	ps.resolved.Purge()
}

// cachedACLs reports how many built ACLs are kept.
func (ps *policyStore) cachedACLs() int { return ps.acls.Len() + ps.resolved.Len() }

func (ps *policyStore) ListPolicies(ctx context.Context) ([]string, error) {
	names, err := ps.storage.List(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list policies: %w", err)
	}
	names = slices.DeleteFunc(names, func(n string) bool { return strings.HasSuffix(n, "/") })
	if !slices.Contains(names, policy.DefaultName) {
		names = append(names, policy.DefaultName)
	}
	names = append(names, policy.RootName)
	slices.Sort(names)
	return names, nil
}

// GetPolicy returns a policy's text; the built-in default when it was never
// rewritten, and the built-in response-wrapping, which cannot be. The root
// policy has no text and is reported as not found.
func (ps *policyStore) GetPolicy(ctx context.Context, name string) (string, bool, error) {
	n, err := policy.CanonicalName(name)
	if err != nil {
		return "", false, err
	}
	if n == policy.ResponseWrappingName {
		// Whatever an older server let someone store under this name.
		return policy.ResponseWrappingPolicy, true, nil
	}
	e, err := ps.storage.Get(ctx, n)
	if err != nil {
		return "", false, fmt.Errorf("read policy %q: %w", n, err)
	}
	if e == nil {
		if n == policy.DefaultName {
			return policy.DefaultPolicy, true, nil
		}
		return "", false, nil
	}
	return string(e.Value), true, nil
}

func (ps *policyStore) PutPolicy(ctx context.Context, name, text string) error {
	if err := policy.CheckWrite(name); err != nil {
		return err
	}
	n, err := policy.CanonicalName(name)
	if err != nil {
		return err
	}
	if _, err := policy.Parse(n, text); err != nil {
		return err
	}
	if err := ps.storage.Put(ctx, &logical.StorageEntry{Key: n, Value: []byte(text)}); err != nil {
		return fmt.Errorf("write policy %q: %w", n, err)
	}
	ps.invalidate()
	return nil
}

func (ps *policyStore) DeletePolicy(ctx context.Context, name string) error {
	if err := policy.CheckDelete(name); err != nil {
		return err
	}
	n, err := policy.CanonicalName(name)
	if err != nil {
		return err
	}
	if err := ps.storage.Delete(ctx, n); err != nil {
		return fmt.Errorf("delete policy %q: %w", n, err)
	}
	ps.invalidate()
	return nil
}

// load returns the parsed policy, or nil when no such policy exists (a
// token may name a policy that was deleted since; it then grants nothing).
func (ps *policyStore) load(ctx context.Context, name string) (*policy.Policy, error) {
	if name == policy.RootName {
		return policy.Root(), nil
	}
	ps.mu.RLock()
	p, ok := ps.parsed[name]
	gen := ps.gen
	ps.mu.RUnlock()
	if ok {
		return p, nil
	}
	text, found, err := ps.GetPolicy(ctx, name)
	if err != nil || !found {
		return nil, err
	}
	if p, err = policy.Parse(name, text); err != nil {
		return nil, fmt.Errorf("stored policy %q no longer parses: %w", name, err)
	}
	ps.mu.Lock()
	if ps.gen == gen {
		ps.parsed[name] = p
	}
	ps.mu.Unlock()
	return p, nil
}

// aclEntry is what the cache keeps for one set of policy names: the built
// ACL, or, when a policy of the set is templated, the parsed policies, to
// be resolved per entity (each entity's ACL is cached under its own key).
type aclEntry struct {
	acl       *policy.ACL
	templated []*policy.Policy
	// at is the policyStore's moves when the entry last went to the front
	// of acls.
	at atomic.Uint64
}

// aclPromoteAfter: a hit moves its set to the front of acls (the LRU's
// exclusive lock) only once this many others may have gone in front of it;
// other hits, such as every request of a steady working set, take the read
// lock alone. A set hit that often never comes near the back.
const aclPromoteAfter = aclCacheSize / 8

// cachedACL returns the built set for key, promoting it when it may have
// drifted aclPromoteAfter places from the front.
func (ps *policyStore) cachedACL(key string) (*aclEntry, bool) {
	entry, ok := ps.acls.Peek(key)
	if ok && ps.moves.Load()-entry.at.Load() > aclPromoteAfter {
		ps.acls.Get(key)
		entry.at.Store(ps.moves.Add(1))
	}
	return entry, ok
}

// ACL returns the ACL for a set of policy names as the entity ent sees it
// (nil: a token without an entity), built once per set, or once per set
// and entity version when a policy of the set is templated. Keying
// templated sets on the entity's ID and revision is what keeps one
// entity's resolved paths from ever being served to another, or to the
// same entity after its metadata changed.
func (ps *policyStore) ACL(ctx context.Context, names []string, ent *identity.Entity) (*policy.ACL, error) {
	key, ok := aclKey(names)
	if !ok {
		entry, err := ps.build(ctx, names)
		if err != nil || entry.acl != nil {
			return entry.acl, err
		}
		var id policy.Identity // nil, not a nil *identity.Entity
		if ent != nil {
			id = ent
		}
		return resolveFor(entry.templated, id), nil
	}
	ps.mu.RLock()
	gen := ps.gen
	entry, ok := ps.cachedACL(key)
	ps.mu.RUnlock()
	if !ok {
		var err error
		if entry, err = ps.build(ctx, names); err != nil {
			return nil, err
		}
		ps.mu.Lock()
		if ps.gen == gen {
			entry.at.Store(ps.moves.Add(1))
			ps.acls.Add(key, entry)
		}
		ps.mu.Unlock()
	}
	if entry.acl != nil {
		return entry.acl, nil
	}
	return ps.resolve(resolvedKey{set: key}, gen, entry.templated, ent), nil
}

// resolve returns the ACL of a templated set for ent, from the cache when
// it holds one built under write generation gen for this very version of
// the entity. One built after a policy write raced with the caller is
// returned but not cached, so stale text never outlives the write.
func (ps *policyStore) resolve(rk resolvedKey, gen uint64, pols []*policy.Policy, ent *identity.Entity) *policy.ACL {
	var id policy.Identity
	if ent != nil {
		id, rk.entity, rk.revision = ent, ent.ID, ent.Revision()
	}
	ps.mu.RLock()
	acl, ok := ps.resolved.Get(rk)
	fresh := ps.gen == gen
	ps.mu.RUnlock()
	if ok && fresh {
		return acl
	}
	acl = resolveFor(pols, id)
	ps.mu.Lock()
	if ps.gen == gen {
		ps.resolved.Add(rk, acl)
	}
	ps.mu.Unlock()
	return acl
}

// resolveFor builds the ACL of templated policies as id sees it.
func resolveFor(pols []*policy.Policy, id policy.Identity) *policy.ACL {
	resolved := make([]*policy.Policy, len(pols))
	for i, p := range pols {
		resolved[i] = p.Resolve(id)
	}
	return policy.NewACL(resolved...)
}

// aclKey names a set of policy names in the ACL caches: the names joined
// by NUL. A token may carry any name (a role's allowed_policies_glob
// "team-*" admits "team-a\x00writer"), and a name holding a NUL would give
// its set the key of another set, and so that set's cached rights
// ("default", "team-a\x00writer" is "default", "team-a", "writer"). Such a
// set is never cached: ok is false.
func aclKey(names []string) (key string, ok bool) {
	for _, n := range names {
		if strings.IndexByte(n, 0) >= 0 {
			return "", false
		}
	}
	return strings.Join(names, "\x00"), true
}

// build loads a set's policies: its ACL when none is templated, else the
// policies themselves.
func (ps *policyStore) build(ctx context.Context, names []string) (*aclEntry, error) {
	var pols []*policy.Policy
	templated := false
	for _, n := range names {
		p, err := ps.load(ctx, n)
		if err != nil {
			return nil, err
		}
		if p != nil {
			pols = append(pols, p)
			templated = templated || p.Templated()
		}
	}
	if templated {
		return &aclEntry{templated: pols}, nil
	}
	return &aclEntry{acl: policy.NewACL(pols...)}, nil
}
