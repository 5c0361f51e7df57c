package token

import (
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// Storage layout, relative to the store's own view. No key or value ever
// contains a token ID.
const (
	saltKey        = "salt"
	idPrefix       = "id/"       // id/<hash> → Entry JSON
	accessorPrefix = "accessor/" // accessor/<hmac(accessor)> → hash
	parentPrefix   = "parent/"   // parent/<parentHash>/<childHash> → marker
)

// DefaultTTL is the default and maximum token lifetime when the SystemView
// gives none: Vault's 768h.
const DefaultTTL = 768 * time.Hour

const saltLen = 32

// lockStripes is the number of mutexes that serialise writes per token; a
// token's hash picks its stripe, so two tokens rarely contend.
const lockStripes = 256

// Config is what New needs.
type Config struct {
	// Storage is the store's own encrypted view; the store owns every key
	// in it.
	Storage logical.Storage
	// System gives the mount's default and maximum TTL; nil means 768h for
	// both.
	System logical.SystemView
	// Logger receives background errors; never secrets. Nil discards.
	Logger *slog.Logger
	// Now is the clock, replaceable in tests; nil means time.Now.
	Now func() time.Time
	// OnRevoke, when set, is called once for every token revoked (by
	// Revoke, RevokeOrphan, expiry or running out of uses), after its
	// entry is deleted. It must not call back into Revoke for the same
	// token.
	OnRevoke func(ctx context.Context, e *Entry)
	// OnCreate, when set, is called once for every token created (batch
	// tokens included), after it is stored; for metrics. It must be quick
	// and must not call back into the store.
	OnCreate func(e *Entry)
	// CheckRenew, when set, is asked before a token issued by a login (its
	// Path is under "auth/" but not "auth/token/") is renewed; an error
	// refuses the renewal. The core points it at the issuing auth method.
	// The hook may change e's Period and ExplicitMaxTTL (a copy): the
	// renewal then uses and keeps them.
	CheckRenew func(ctx context.Context, e *Entry) error
	// IdentityPolicies, when set, returns the policies a token's entity
	// adds (nil when none), for lookups to report as identity_policies.
	IdentityPolicies func(entityID string) []string
}

// Store is the token store. All methods are safe for concurrent use.
type Store struct {
	storage    logical.Storage
	system     logical.SystemView
	logger     *slog.Logger
	now        func() time.Time
	onRevoke   func(ctx context.Context, e *Entry)
	onCreate   func(e *Entry)
	checkRenew func(ctx context.Context, e *Entry) error
	identity   func(entityID string) []string
	salt       []byte
	// macs holds keyed HMAC states under salt (*macState), for mac.
	macs sync.Pool
	// batch seals and opens batch tokens (see batch.go).
	batch cipher.AEAD
	// cutoffs maps path prefixes of disabled auth methods to when they
	// were disabled; cutoffMu serialises changes.
	cutoffs  atomic.Pointer[map[string]time.Time]
	cutoffMu sync.Mutex
	// roleMu serialises role writes, which read, modify and write.
	roleMu sync.Mutex

	locks [lockStripes]sync.Mutex
	cache *entryCache
	exp   *expiryQueue

	stopOnce sync.Once
	stop     chan struct{}
	wake     chan struct{}
	running  sync.WaitGroup
	// restoreMu guards restored: whether the stored tokens' expiries
	// have been queued (restoreExpiries, at the first sweep).
	restoreMu sync.Mutex
	restored  bool
	// life is cancelled by Stop, for background work such as Tidy; bgMu
	// and stopped keep new background work from starting after Stop.
	life    context.Context
	endLife context.CancelFunc
	bgMu    sync.Mutex
	stopped bool
	tidyMu  sync.Mutex
}

// New loads the store's salt, creating a random one on first use, and
// indexes the expiry times of existing tokens. Run must be started for
// expired tokens to be revoked in the background.
func New(ctx context.Context, conf Config) (*Store, error) {
	if conf.Storage == nil {
		return nil, ErrNoStorage
	}
	s := &Store{
		storage:    conf.Storage,
		system:     conf.System,
		logger:     conf.Logger,
		now:        conf.Now,
		onRevoke:   conf.OnRevoke,
		onCreate:   conf.OnCreate,
		checkRenew: conf.CheckRenew,
		identity:   conf.IdentityPolicies,
		cache:      newEntryCache(cacheSize),
		exp:        newExpiryQueue(),
		stop:       make(chan struct{}),
		wake:       make(chan struct{}, 1),
	}
	s.life, s.endLife = context.WithCancel(context.WithoutCancel(ctx))
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.loadSalt(ctx); err != nil {
		s.endLife()
		return nil, err
	}
	if err := s.loadBatchKey(ctx); err != nil {
		s.endLife()
		return nil, err
	}
	// The stored tokens' expiries are queued by the first sweep, which
	// Start runs in the background: reading every token here would make
	// unseal grow with the number of tokens. Until then nothing is lost:
	// a lookup refuses an expired token by itself, and the sweep only
	// revokes what has expired.
	return s, nil
}

func (s *Store) loadSalt(ctx context.Context) error {
	e, err := s.storage.Get(ctx, saltKey)
	if err != nil {
		return fmt.Errorf("read token salt: %w", err)
	}
	if e != nil && len(e.Value) == saltLen {
		s.salt = e.Value
		return nil
	}
	if e != nil {
		return fmt.Errorf("%w: salt has length %d, want %d", ErrCorrupt, len(e.Value), saltLen)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return fmt.Errorf("generate token salt: %w", err)
	}
	if err := s.storage.Put(ctx, &logical.StorageEntry{Key: saltKey, Value: salt}); err != nil {
		return fmt.Errorf("store token salt: %w", err)
	}
	s.salt = salt
	return nil
}

// restoreExpiries runs loadExpiries once (again after a failure).
func (s *Store) restoreExpiries(ctx context.Context) error {
	s.restoreMu.Lock()
	defer s.restoreMu.Unlock()
	if s.restored {
		return nil
	}
	if err := s.loadExpiries(ctx); err != nil {
		return err
	}
	s.restored = true
	return nil
}

// loadExpiries queues every stored token that expires, and every token
// whose revocation was interrupted, for the sweeper. It runs while tokens
// are created, renewed and revoked, so it never replaces what they queued
// (trackIfAbsent): what it read may be older.
func (s *Store) loadExpiries(ctx context.Context) error {
	hashes, err := s.storage.List(ctx, idPrefix)
	if err != nil {
		return fmt.Errorf("list tokens: %w", err)
	}
	for _, h := range hashes {
		e, err := s.load(ctx, h)
		if err != nil {
			return err
		}
		switch {
		case e == nil:
		case e.Revoking:
			s.exp.trackIfAbsent(h, time.Time{})
		case !e.ExpireTime.IsZero():
			s.exp.trackIfAbsent(h, e.ExpireTime)
		}
	}
	return nil
}

// HashID returns the salted hash that names the token id in storage and in
// Revoke. It is a one-way function of id.
func (s *Store) HashID(id string) string { return s.mac(id) }

// mac is HMAC-SHA256 of v under the salt, in hex. Every request with a
// token computes it, so keyed HMAC states are reused (Reset returns one
// to the state just after the key) rather than keyed anew each time, each
// with a buffer for the token's bytes (writing a string to a hash.Hash
// copies it into a new slice).
func (s *Store) mac(v string) string {
	var out [macLen]byte
	s.macTo(v, &out)
	return string(out[:])
}

// macLen is the length of a token hash: hex of a SHA-256 sum.
const macLen = 2 * sha256.Size

// macTo is mac written into out, for a lookup that needs no string.
func (s *Store) macTo(v string, out *[macLen]byte) {
	st, _ := s.macs.Get().(*macState)
	if st == nil {
		st = &macState{h: hmac.New(sha256.New, s.salt)}
	}
	st.h.Reset()
	st.buf = append(st.buf[:0], v...)
	_, _ = st.h.Write(st.buf) // a hash never fails to write
	clear(st.buf)             // the token is a credential: leave no copy in the pool
	// The sum goes to a pooled slice too: an array on the stack passed to
	// the interface's Sum would escape, an allocation per request.
	st.sum = st.h.Sum(st.sum[:0])
	hex.Encode(out[:], st.sum)
	s.macs.Put(st)
}

// macState is a keyed HMAC, the buffer mac copies a token into and the
// one it sums into.
type macState struct {
	h        hash.Hash
	buf, sum []byte
}

// lockFor returns the mutex that serialises writes to the token hash.
func (s *Store) lockFor(hash string) *sync.Mutex { return &s.locks[stripe(hash)] }

// stripe is FNV-1a of hash (hash/fnv's New32a, written out so that it
// allocates nothing) modulo the stripes.
func stripe(hash string) uint32 {
	const offset32, prime32 = 2166136261, 16777619
	h := uint32(offset32)
	for i := 0; i < len(hash); i++ {
		h ^= uint32(hash[i])
		h *= prime32
	}
	return h % lockStripes
}

// load reads an entry from storage, bypassing the cache. It returns nil, nil
// when there is none.
func (s *Store) load(ctx context.Context, hash string) (*Entry, error) {
	var e Entry
	ok, err := logical.GetJSON(ctx, s.storage, idPrefix+hash, &e)
	if err != nil {
		return nil, fmt.Errorf("read token entry: %w", err)
	}
	if !ok {
		return nil, nil
	}
	return &e, nil
}
