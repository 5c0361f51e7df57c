package core

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/policy"
)

// aclCacheSize bounds the built ACLs kept in memory, one per distinct set
// of policy names. Tokens can name any set (even of policies that do not
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
	acls   *lru.Cache[string, *policy.ACL] // safe for concurrent use itself
}

func newPolicyStore(s logical.Storage) *policyStore {
	acls, err := lru.New[string, *policy.ACL](aclCacheSize)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return &policyStore{storage: s, parsed: map[string]*policy.Policy{}, acls: acls}
}

func (ps *policyStore) invalidate() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.gen++
	ps.parsed = map[string]*policy.Policy{}
	ps.acls.Purge()
}

// cachedACLs reports how many built ACLs are kept.
func (ps *policyStore) cachedACLs() int { return ps.acls.Len() }

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

// ACL returns the ACL for a set of policy names, built once per set.
func (ps *policyStore) ACL(ctx context.Context, names []string) (*policy.ACL, error) {
	key := strings.Join(names, "\x00")
	ps.mu.RLock()
	acl, ok := ps.acls.Get(key)
	gen := ps.gen
	ps.mu.RUnlock()
	if ok {
		return acl, nil
	}
	var pols []*policy.Policy
	for _, n := range names {
		p, err := ps.load(ctx, n)
		if err != nil {
			return nil, err
		}
		if p != nil {
			pols = append(pols, p)
		}
	}
	acl = policy.NewACL(pols...)
	ps.mu.Lock()
	if ps.gen == gen {
		ps.acls.Add(key, acl)
	}
	ps.mu.Unlock()
	return acl, nil
}
