package roles

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/cofferhq/coffer/internal/logical"
)

// Store keeps one mount's roles of type R, each as JSON at prefix+name in
// the mount's storage, and caches them for logins. Safe for concurrent
// use. Roles it returns from Get and Write are shared with the cache: read
// them, never change them; Load returns the caller's own copy.
type Store[R any] struct {
	storage logical.Storage
	prefix  string
	loaded  func(name string, r *R) error

	// mu serialises changes (held for writing) against the fills of the
	// cache from storage (held for reading), so that a fill never caches a
	// role a change has just replaced.
	mu sync.RWMutex
	// cache holds stored roles by name; misses (unknown names) are not
	// cached.
	cacheMu sync.RWMutex
	cache   map[string]*R
}

// NewStore returns a store of the roles under prefix (such as "role/") in
// storage. loaded, when not nil, completes every role read from storage
// and every new one Write starts from: it fills in the defaults of fields
// left empty and builds what is derived from the stored fields; its error
// fails the read or write.
func NewStore[R any](storage logical.Storage, prefix string, loaded func(name string, r *R) error) *Store[R] {
	return &Store[R]{storage: storage, prefix: prefix, loaded: loaded, cache: map[string]*R{}}
}

// Get returns the named role from the cache, filling it from storage on a
// miss, or nil when there is none. The role is shared: never change it.
func (s *Store[R]) Get(ctx context.Context, name string) (*R, error) {
	s.cacheMu.RLock()
	r := s.cache[name]
	s.cacheMu.RUnlock()
	if r != nil {
		return r, nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.Load(ctx, name)
	if err != nil || r == nil {
		return nil, err
	}
	s.remember(name, r)
	return r, nil
}

// Load reads the named role from storage into a fresh value, or returns
// nil when there is none. Numbers in fields of type any stay json.Number,
// so they compare exactly with what a client sends.
func (s *Store[R]) Load(ctx context.Context, name string) (*R, error) {
	e, err := s.storage.Get(ctx, s.prefix+name)
	if err != nil {
		return nil, fmt.Errorf("read role %q: %w", name, err)
	}
	if e == nil {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(e.Value))
	dec.UseNumber()
	var r R
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("decode role %q: %w", name, err)
	}
	if err := s.complete(name, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// List returns the names of the stored roles, nil when there are none.
func (s *Store[R]) List(ctx context.Context) ([]string, error) {
	return List(ctx, s.storage, s.prefix)
}

// Write changes the named role with change and stores and caches the
// result, holding the store's write lock throughout. change gets the
// caller's own copy of the stored role or, when there is none, a new zero
// role completed as a loaded one is (so a new role gets the defaults an
// older stored one does); when change fails, nothing is stored and its
// error is returned. The role returned is shared with the cache: never
// change it.
func (s *Store[R]) Write(ctx context.Context, name string, change func(r *R) error) (*R, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.Load(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		r = new(R)
		if err := s.complete(name, r); err != nil {
			return nil, err
		}
	}
	if err := change(r); err != nil {
		return nil, err
	}
	if err := logical.PutJSON(ctx, s.storage, s.prefix+name, r); err != nil {
		return nil, err
	}
	s.remember(name, r)
	return r, nil
}

// complete runs the loaded hook on r.
func (s *Store[R]) complete(name string, r *R) error {
	if s.loaded == nil {
		return nil
	}
	if err := s.loaded(name, r); err != nil {
		return fmt.Errorf("role %q: %w", name, err)
	}
	return nil
}

// Delete deletes the named role from storage and the cache; deleting a
// missing role succeeds.
func (s *Store[R]) Delete(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.storage.Delete(ctx, s.prefix+name); err != nil {
		return err
	}
	s.remember(name, nil)
	return nil
}

// remember caches r under name (nil forgets the name).
func (s *Store[R]) remember(name string, r *R) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if r == nil {
		delete(s.cache, name)
		return
	}
	s.cache[name] = r
}

// List returns the names of the entries directly under prefix in storage,
// leaving out folders (keys ending in "/"), nil when there are none.
func List(ctx context.Context, storage logical.Storage, prefix string) ([]string, error) {
	keys, err := storage.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, k := range keys {
		if !strings.HasSuffix(k, "/") {
			names = append(names, k)
		}
	}
	return names, nil
}
