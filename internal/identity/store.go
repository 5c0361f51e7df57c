package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/internal/logical"
)

// entityPrefix is where entities live in the store's view:
// entity/<id> → Entity JSON, aliases inside.
const entityPrefix = "entity/"

// Mounts tells the store about auth mounts, which aliases name by accessor.
type Mounts interface {
	// AuthMountByAccessor returns the route path ("auth/userpass/") and
	// type of the auth method whose accessor is accessor; ok is false when
	// none is mounted. Safe for concurrent use.
	AuthMountByAccessor(accessor string) (path, typ string, ok bool)
}

// Config is what New needs.
type Config struct {
	// Storage is the store's own encrypted view; the store owns every key
	// in it.
	Storage logical.Storage
	// Mounts validates mount accessors and names them in responses.
	Mounts Mounts
	// Logger receives what an operator should know (a stored entity that
	// does not load); never secrets. Nil discards.
	Logger *slog.Logger
	// Now is the clock, replaceable in tests; nil means time.Now.
	Now func() time.Time
}

// Store holds every entity in memory, written through to storage. All
// methods are safe for concurrent use. Reads take a shared lock only;
// changes are serialised, and a change is visible to readers only once it
// is stored, so that two concurrent first logins of one alias create one
// entity and nothing half-written is ever seen.
type Store struct {
	storage logical.Storage
	mounts  Mounts
	logger  *slog.Logger
	now     func() time.Time

	// wmu serialises changes, storage write included. A holder of wmu may
	// read the indexes without mu: only wmu holders write them.
	wmu sync.Mutex

	mu       sync.RWMutex
	entities map[string]*Entity // by ID
	names    map[string]string  // nameKey(name) → entity ID
	aliases  map[string]string  // alias ID → entity ID
	factors  map[string]string  // factorKey(accessor, name) → alias ID
	revision uint64
}

// New returns an empty Store; Load reads the stored entities.
func New(conf Config) *Store {
	s := &Store{storage: conf.Storage, mounts: conf.Mounts, logger: conf.Logger, now: conf.Now}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.reset()
	return s
}

func (s *Store) reset() {
	s.entities = map[string]*Entity{}
	s.names = map[string]string{}
	s.aliases = map[string]string{}
	s.factors = map[string]string{}
}

// Load reads every stored entity into memory, replacing what was there. An
// entry that does not decode, or whose name or aliases clash with one
// already loaded, is logged and skipped, so one bad entry cannot keep the
// server sealed; storage errors are returned.
func (s *Store) Load(ctx context.Context) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	keys, err := s.storage.List(ctx, entityPrefix)
	if err != nil {
		return fmt.Errorf("list entities: %w", err)
	}
	s.mu.Lock()
	s.reset()
	s.mu.Unlock()
	for _, k := range keys {
		if strings.HasSuffix(k, "/") {
			continue
		}
		e, err := s.read(ctx, k)
		if err != nil {
			return err
		}
		if e == nil {
			continue
		}
		if clash := s.clash(e); clash != "" {
			s.logger.Error("stored entity skipped", "entity_id", e.ID, "reason", clash)
			continue
		}
		s.mu.Lock()
		s.index(e)
		s.mu.Unlock()
	}
	return nil
}

// read decodes entity/<id>; nil when it does not decode (logged).
func (s *Store) read(ctx context.Context, id string) (*Entity, error) {
	ent, err := s.storage.Get(ctx, entityPrefix+id)
	if err != nil {
		return nil, fmt.Errorf("read entity %q: %w", id, err)
	}
	if ent == nil {
		return nil, nil
	}
	var e Entity
	if err := json.Unmarshal(ent.Value, &e); err != nil || e.ID != id {
		if err == nil {
			err = errCorruptEntityKey
		}
		s.logger.Error("stored entity skipped", "entity_id", id, "error", err.Error())
		return nil, nil
	}
	for _, a := range e.Aliases {
		a.CanonicalID = e.ID
	}
	return &e, nil
}

// clash names what keeps e from joining the indexes, or "".
func (s *Store) clash(e *Entity) string {
	if id, ok := s.names[nameKey(e.Name)]; ok && id != e.ID {
		return "its name is taken by entity " + id
	}
	seen := map[string]bool{}
	for _, a := range e.Aliases {
		if seen[a.MountAccessor] {
			return "two aliases on mount " + a.MountAccessor
		}
		seen[a.MountAccessor] = true
		if id, ok := s.factors[factorKey(a.MountAccessor, a.Name)]; ok && id != a.ID {
			return "alias " + a.ID + " duplicates alias " + id
		}
		if owner, ok := s.aliases[a.ID]; ok && owner != e.ID {
			return "alias " + a.ID + " belongs to entity " + owner
		}
	}
	return ""
}

// index publishes e (with a new revision), replacing any older version of
// it. The caller holds mu for writing.
func (s *Store) index(e *Entity) {
	if old := s.entities[e.ID]; old != nil {
		s.unindex(old)
	}
	s.revision++
	e.revision = s.revision
	s.entities[e.ID] = e
	s.names[nameKey(e.Name)] = e.ID
	for _, a := range e.Aliases {
		s.aliases[a.ID] = e.ID
		s.factors[factorKey(a.MountAccessor, a.Name)] = a.ID
	}
}

// unindex removes e. The caller holds mu for writing.
func (s *Store) unindex(e *Entity) {
	delete(s.entities, e.ID)
	if s.names[nameKey(e.Name)] == e.ID {
		delete(s.names, nameKey(e.Name))
	}
	for _, a := range e.Aliases {
		if s.aliases[a.ID] == e.ID {
			delete(s.aliases, a.ID)
		}
		if s.factors[factorKey(a.MountAccessor, a.Name)] == a.ID {
			delete(s.factors, factorKey(a.MountAccessor, a.Name))
		}
	}
}

// commit stores puts and deletes (entity IDs) in one transaction and then
// publishes them. The caller holds wmu. Nothing is published when the
// write fails.
func (s *Store) commit(ctx context.Context, puts []*Entity, deletes []string) error {
	ops := make([]logical.TxnOp, 0, len(puts)+len(deletes))
	for _, e := range puts {
		slices.SortFunc(e.Aliases, func(a, b *Alias) int { return strings.Compare(a.ID, b.ID) })
		ent, err := logical.JSONEntry(entityPrefix+e.ID, e)
		if err != nil {
			return err
		}
		ops = append(ops, logical.TxnOp{Entry: ent})
	}
	for _, id := range deletes {
		ops = append(ops, logical.TxnOp{Delete: true, Entry: &logical.StorageEntry{Key: entityPrefix + id}})
	}
	if err := logical.ApplyTxn(ctx, s.storage, ops); err != nil {
		return fmt.Errorf("write entities: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range deletes {
		if old := s.entities[id]; old != nil {
			s.unindex(old)
		}
	}
	for _, e := range puts {
		s.index(e)
	}
	return nil
}

// Entity returns the entity with id, or nil when there is none. The result
// is shared: never modify it.
func (s *Store) Entity(id string) *Entity {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.entities[id]
}

// EntityByName returns the entity called name (in any case), or nil.
func (s *Store) EntityByName(name string) *Entity {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.entities[s.names[nameKey(name)]]
}

// EntityByAlias returns the entity owning the alias with id and the alias
// itself, or nils.
func (s *Store) EntityByAlias(id string) (*Entity, *Alias) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byAliasLocked(id)
}

// EntityByFactors returns the entity whose alias on the mount with
// accessor is called name (in any case), and that alias, or nils.
func (s *Store) EntityByFactors(accessor, name string) (*Entity, *Alias) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byAliasLocked(s.factors[factorKey(accessor, name)])
}

func (s *Store) byAliasLocked(aliasID string) (*Entity, *Alias) {
	e := s.entities[s.aliases[aliasID]]
	if e == nil {
		return nil, nil
	}
	for _, a := range e.Aliases {
		if a.ID == aliasID {
			return e, a
		}
	}
	return nil, nil
}

// all returns every entity, sorted by ID.
func (s *Store) all() []*Entity {
	s.mu.RLock()
	out := make([]*Entity, 0, len(s.entities))
	for _, e := range s.entities {
		out = append(out, e)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Entity) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// newEntity returns a new entity called name, or entity_<8 hex> when name
// is empty, as Vault names the entities logins create. The caller holds
// wmu.
func (s *Store) newEntity(name string) *Entity {
	now := s.now().UTC()
	e := &Entity{ID: uuid.NewString(), Name: name, CreationTime: now, LastUpdateTime: now}
	if name == "" {
		e.Name = "entity_" + e.ID[:8]
		for s.names[nameKey(e.Name)] != "" {
			e.Name = "entity_" + uuid.NewString()[:8]
		}
	}
	return e
}

// newAlias returns a new alias of e on accessor.
func (s *Store) newAlias(e *Entity, accessor, name string) *Alias {
	now := s.now().UTC()
	return &Alias{ID: uuid.NewString(), CanonicalID: e.ID, MountAccessor: accessor, Name: name, CreationTime: now, LastUpdateTime: now}
}
