package logical

import (
	"context"
	"sort"
	"strings"
	"sync"
)

// InmemStorage is a Storage held in a map, for tests of engines and for the
// parts of the server that need scratch storage. Safe for concurrent use.
type InmemStorage struct {
	mu sync.RWMutex
	m  map[string][]byte
}

// NewInmemStorage returns an empty InmemStorage.
func NewInmemStorage() *InmemStorage { return &InmemStorage{m: map[string][]byte{}} }

func (s *InmemStorage) Get(_ context.Context, key string) (*StorageEntry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.m[key]
	if !ok {
		return nil, nil
	}
	return &StorageEntry{Key: key, Value: append([]byte(nil), v...)}, nil
}

func (s *InmemStorage) Put(_ context.Context, e *StorageEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[e.Key] = append([]byte(nil), e.Value...)
	return nil
}

func (s *InmemStorage) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

func (s *InmemStorage) List(_ context.Context, prefix string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	seen := map[string]bool{}
	for k := range s.m {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		rest := k[len(prefix):]
		if i := strings.Index(rest, "/"); i >= 0 {
			rest = rest[:i+1]
		}
		seen[rest] = true
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// Transaction applies all ops under one lock.
func (s *InmemStorage) Transaction(_ context.Context, ops []TxnOp) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range ops {
		if op.Delete {
			delete(s.m, op.Entry.Key)
		} else {
			s.m[op.Entry.Key] = append([]byte(nil), op.Entry.Value...)
		}
	}
	return nil
}

var (
	_ Storage       = (*InmemStorage)(nil)
	_ Transactional = (*InmemStorage)(nil)
)
