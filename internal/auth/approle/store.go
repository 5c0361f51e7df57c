package approle

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/internal/logical"
)

// Storage layout, relative to the mount's view. No key and no value holds a
// secret ID; role names appear in keys only as digests below secret_id/.
const (
	saltKey        = "salt"       // the HMAC key, 32 random bytes
	rolePrefix     = "role/"      // role/<name> → roleEntry JSON
	roleIDPrefix   = "role_id/"   // role_id/<mac(role_id)> → role name
	secretPrefix   = "secret_id/" // secret_id/<mac(role name)>/<mac(secret ID)> → secretEntry JSON
	accessorPrefix = "accessor/"  // accessor/<mac(accessor)> → accessorEntry JSON
)

const saltLen = 32

// maxInputLength caps what is hashed (role names, secret IDs, role IDs),
// as Vault does: a megabyte-long "secret ID" is a mistake, not a secret.
const maxInputLength = 4096

// lockStripes is the number of mutexes serialising changes to secret IDs;
// a secret ID's digest picks its stripe.
const lockStripes = 256

// secretEntry is one stored secret ID: its digest, never the secret ID.
// Entries returned by the store are the caller's copies.
type secretEntry struct {
	// HMAC is the digest the entry is stored under, repeated inside so that
	// a read can check, in constant time, that it found what it asked for.
	HMAC string `json:"secret_id_hmac"`
	// RoleHMAC is the digest of the role's name.
	RoleHMAC        string            `json:"role_hmac"`
	Accessor        string            `json:"secret_id_accessor"`
	NumUses         int               `json:"secret_id_num_uses"`
	TTL             time.Duration     `json:"secret_id_ttl"`
	CreationTime    time.Time         `json:"creation_time"`
	ExpirationTime  time.Time         `json:"expiration_time"`
	LastUpdatedTime time.Time         `json:"last_updated_time"`
	Metadata        map[string]string `json:"metadata"`
	CIDRList        []string          `json:"cidr_list"`
	TokenBoundCIDRs []string          `json:"token_bound_cidrs"`
}

// expired reports whether e has an expiry at or before now.
func (e *secretEntry) expired(now time.Time) bool {
	return !e.ExpirationTime.IsZero() && !now.Before(e.ExpirationTime)
}

// describe is Vault's view of a secret ID for the lookup routes.
func (e *secretEntry) describe() map[string]any {
	meta, cidrs, tokenCIDRs := e.Metadata, e.CIDRList, e.TokenBoundCIDRs
	if meta == nil {
		meta = map[string]string{}
	}
	if cidrs == nil {
		cidrs = []string{}
	}
	if tokenCIDRs == nil {
		tokenCIDRs = []string{}
	}
	return map[string]any{
		"secret_id_accessor": e.Accessor,
		"secret_id_num_uses": e.NumUses,
		"secret_id_ttl":      int64(e.TTL / time.Second),
		"creation_time":      e.CreationTime,
		"expiration_time":    e.ExpirationTime,
		"last_updated_time":  e.LastUpdatedTime,
		"metadata":           meta,
		"cidr_list":          cidrs,
		"token_bound_cidrs":  tokenCIDRs,
	}
}

// accessorEntry leads from an accessor to its secret ID's entry.
type accessorEntry struct {
	SecretIDHMAC string `json:"secret_id_hmac"`
	RoleHMAC     string `json:"role_hmac"`
	// Accessor repeats the accessor, so that a read can check it in
	// constant time against the one asked for.
	Accessor string `json:"accessor"`
}

// secretStore keeps a mount's secret IDs. Safe for concurrent use: every
// change to one secret ID happens under its stripe's lock, so a use limit
// of n admits exactly n logins however many race for them.
type secretStore struct {
	storage logical.Storage
	key     []byte
	now     func() time.Time
	locks   [lockStripes]sync.Mutex
}

// openSecretStore reads the mount's HMAC key, creating a random one on first
// use.
func openSecretStore(ctx context.Context, s logical.Storage, now func() time.Time) (*secretStore, error) {
	e, err := s.Get(ctx, saltKey)
	if err != nil {
		return nil, fmt.Errorf("read approle salt: %w", err)
	}
	var key []byte
	switch {
	case e != nil && len(e.Value) == saltLen:
		key = e.Value
	case e != nil:
		return nil, fmt.Errorf("%w: salt has length %d, want %d", errCorrupt, len(e.Value), saltLen)
	default:
		key = make([]byte, saltLen)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("generate approle salt: %w", err)
		}
		if err := s.Put(ctx, &logical.StorageEntry{Key: saltKey, Value: key}); err != nil {
			return nil, fmt.Errorf("store approle salt: %w", err)
		}
	}
	return &secretStore{storage: s, key: key, now: now}, nil
}

// mac is hex(HMAC-SHA256(key, v)): what names a secret ID, an accessor, a
// role ID or a role in storage.
func (s *secretStore) mac(v string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(v))
	return hex.EncodeToString(m.Sum(nil))
}

func (s *secretStore) lockFor(secretHMAC string) *sync.Mutex {
	f := fnv.New32a()
	f.Write([]byte(secretHMAC))
	return &s.locks[f.Sum32()%lockStripes]
}

func entryKey(roleHMAC, secretHMAC string) string {
	return secretPrefix + roleHMAC + "/" + secretHMAC
}

// load reads the entry stored under the two digests, or nil. The caller
// holds the secret ID's lock when it means to change the entry.
func (s *secretStore) load(ctx context.Context, roleHMAC, secretHMAC string) (*secretEntry, error) {
	var e secretEntry
	found, err := logical.GetJSON(ctx, s.storage, entryKey(roleHMAC, secretHMAC), &e)
	if err != nil || !found {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(e.HMAC), []byte(secretHMAC)) != 1 ||
		subtle.ConstantTimeCompare([]byte(e.RoleHMAC), []byte(roleHMAC)) != 1 {
		return nil, errCorrupt
	}
	return &e, nil
}

// create registers secretID for role with the settings in e (NumUses, TTL,
// Metadata, CIDRList, TokenBoundCIDRs), filling in the digests, a new
// accessor and the times. It returns ErrSecretIDExists when the role has
// the secret ID already.
func (s *secretStore) create(ctx context.Context, role, secretID string, e *secretEntry) (*secretEntry, error) {
	roleHMAC, secretHMAC := s.mac(role), s.mac(secretID)
	mu := s.lockFor(secretHMAC)
	mu.Lock()
	defer mu.Unlock()
	old, err := s.load(ctx, roleHMAC, secretHMAC)
	if err != nil {
		return nil, err
	}
	if old != nil {
		return nil, ErrSecretIDExists
	}
	now := s.now()
	e.HMAC, e.RoleHMAC, e.Accessor = secretHMAC, roleHMAC, uuid.NewString()
	e.CreationTime, e.LastUpdatedTime = now, now
	if e.TTL > 0 {
		e.ExpirationTime = now.Add(e.TTL)
	}
	ent, err := logical.JSONEntry(entryKey(roleHMAC, secretHMAC), e)
	if err != nil {
		return nil, err
	}
	acc, err := logical.JSONEntry(accessorPrefix+s.mac(e.Accessor), accessorEntry{SecretIDHMAC: secretHMAC, RoleHMAC: roleHMAC, Accessor: e.Accessor})
	if err != nil {
		return nil, err
	}
	if err := logical.ApplyTxn(ctx, s.storage, []logical.TxnOp{{Entry: acc}, {Entry: ent}}); err != nil {
		return nil, fmt.Errorf("store secret ID: %w", err)
	}
	return e, nil
}

// removeOps are the writes that delete e and its accessor.
func (s *secretStore) removeOps(e *secretEntry) []logical.TxnOp {
	return []logical.TxnOp{
		{Delete: true, Entry: &logical.StorageEntry{Key: accessorPrefix + s.mac(e.Accessor)}},
		{Delete: true, Entry: &logical.StorageEntry{Key: entryKey(e.RoleHMAC, e.HMAC)}},
	}
}

// consume spends one use of role's secretID for a login. check runs on the
// entry under the lock before a use is spent; its error is returned and
// nothing changes, so a caller refused for its address burns no use. It
// returns ErrInvalidCredentials for an unknown, expired or used-up secret
// ID (deleting an expired one), and the entry as it was before this use.
func (s *secretStore) consume(ctx context.Context, role, secretID string, check func(*secretEntry) error) (*secretEntry, error) {
	roleHMAC, secretHMAC := s.mac(role), s.mac(secretID)
	mu := s.lockFor(secretHMAC)
	mu.Lock()
	defer mu.Unlock()
	e, err := s.load(ctx, roleHMAC, secretHMAC)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, ErrInvalidCredentials
	}
	if e.expired(s.now()) {
		if err := logical.ApplyTxn(ctx, s.storage, s.removeOps(e)); err != nil {
			return nil, fmt.Errorf("delete expired secret ID: %w", err)
		}
		return nil, ErrInvalidCredentials
	}
	if err := check(e); err != nil {
		return nil, err
	}
	if e.NumUses == 0 {
		return e, nil
	}
	granted := *e
	if e.NumUses == 1 {
		// The last use: the secret ID goes with the login it admits.
		if err := logical.ApplyTxn(ctx, s.storage, s.removeOps(e)); err != nil {
			return nil, fmt.Errorf("delete used-up secret ID: %w", err)
		}
		return &granted, nil
	}
	e.NumUses--
	e.LastUpdatedTime = s.now()
	if err := logical.PutJSON(ctx, s.storage, entryKey(roleHMAC, secretHMAC), e); err != nil {
		return nil, fmt.Errorf("update secret ID: %w", err)
	}
	return &granted, nil
}

// lookup returns role's secretID entry, or nil.
func (s *secretStore) lookup(ctx context.Context, role, secretID string) (*secretEntry, error) {
	roleHMAC, secretHMAC := s.mac(role), s.mac(secretID)
	mu := s.lockFor(secretHMAC)
	mu.Lock()
	defer mu.Unlock()
	return s.load(ctx, roleHMAC, secretHMAC)
}

// destroy deletes role's secretID, reporting whether it existed.
func (s *secretStore) destroy(ctx context.Context, role, secretID string) (bool, error) {
	roleHMAC, secretHMAC := s.mac(role), s.mac(secretID)
	return s.destroyHMAC(ctx, roleHMAC, secretHMAC)
}

func (s *secretStore) destroyHMAC(ctx context.Context, roleHMAC, secretHMAC string) (bool, error) {
	mu := s.lockFor(secretHMAC)
	mu.Lock()
	defer mu.Unlock()
	e, err := s.load(ctx, roleHMAC, secretHMAC)
	if err != nil || e == nil {
		return false, err
	}
	if err := logical.ApplyTxn(ctx, s.storage, s.removeOps(e)); err != nil {
		return false, fmt.Errorf("delete secret ID: %w", err)
	}
	return true, nil
}

// accessorOf resolves an accessor of role's to its secret ID's digest, or
// "" when the accessor is unknown or belongs to another role.
func (s *secretStore) accessorOf(ctx context.Context, role, accessor string) (string, error) {
	if accessor == "" || len(accessor) > maxInputLength {
		return "", nil
	}
	var a accessorEntry
	found, err := logical.GetJSON(ctx, s.storage, accessorPrefix+s.mac(accessor), &a)
	if err != nil || !found {
		return "", err
	}
	if subtle.ConstantTimeCompare([]byte(a.Accessor), []byte(accessor)) != 1 {
		return "", errCorrupt
	}
	if subtle.ConstantTimeCompare([]byte(a.RoleHMAC), []byte(s.mac(role))) != 1 {
		return "", nil
	}
	return a.SecretIDHMAC, nil
}

// lookupAccessor returns the entry of role's secret ID with accessor, or nil.
func (s *secretStore) lookupAccessor(ctx context.Context, role, accessor string) (*secretEntry, error) {
	secretHMAC, err := s.accessorOf(ctx, role, accessor)
	if err != nil || secretHMAC == "" {
		return nil, err
	}
	mu := s.lockFor(secretHMAC)
	mu.Lock()
	defer mu.Unlock()
	return s.load(ctx, s.mac(role), secretHMAC)
}

// destroyAccessor deletes role's secret ID with accessor, reporting
// whether it existed.
func (s *secretStore) destroyAccessor(ctx context.Context, role, accessor string) (bool, error) {
	secretHMAC, err := s.accessorOf(ctx, role, accessor)
	if err != nil || secretHMAC == "" {
		return false, err
	}
	return s.destroyHMAC(ctx, s.mac(role), secretHMAC)
}

// accessors lists the accessors of role's secret IDs, sorted.
func (s *secretStore) accessors(ctx context.Context, role string) ([]string, error) {
	roleHMAC := s.mac(role)
	hashes, err := s.storage.List(ctx, secretPrefix+roleHMAC+"/")
	if err != nil {
		return nil, fmt.Errorf("list secret IDs: %w", err)
	}
	out := make([]string, 0, len(hashes))
	for _, h := range hashes {
		if strings.HasSuffix(h, "/") {
			continue
		}
		e, err := s.load(ctx, roleHMAC, h)
		if err != nil {
			return nil, err
		}
		if e != nil {
			out = append(out, e.Accessor)
		}
	}
	slices.Sort(out)
	return out, nil
}

// deleteRoleOps are the writes that delete every secret ID of role and
// their accessors; the caller applies them with the role's own deletion.
func (s *secretStore) deleteRoleOps(ctx context.Context, role string) ([]logical.TxnOp, error) {
	roleHMAC := s.mac(role)
	hashes, err := s.storage.List(ctx, secretPrefix+roleHMAC+"/")
	if err != nil {
		return nil, fmt.Errorf("list secret IDs: %w", err)
	}
	var ops []logical.TxnOp
	for _, h := range hashes {
		if strings.HasSuffix(h, "/") {
			continue
		}
		e, err := s.load(ctx, roleHMAC, h)
		if err != nil {
			return nil, err
		}
		if e != nil {
			ops = append(ops, s.removeOps(e)...)
		}
	}
	return ops, nil
}
