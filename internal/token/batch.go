package token

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// Batch tokens are never stored. The token is "b." followed by the
// unpadded base64url of
//
//	version (1 byte: 2; 1 is still read) | nonce (12 bytes) | AES-256-GCM(claims, batchcodec.go)
//
// under a 32-byte key generated once and kept at batchKeyName in the
// store's own (barrier-encrypted) view, so a batch token can be checked
// without a storage read and only while the server is unsealed. Anything
// that does not open with that key is simply not a token.
const (
	batchPrefix  = "b."
	batchKeyName = "batch-key"
	batchVersion = 2
	// batchVersionNoEntity tokens were sealed before tokens carried an
	// entity ID; they are still accepted.
	batchVersionNoEntity = 1
	// batchAD binds the ciphertext to its purpose, so no other value
	// sealed with the same key could pass for a token.
	batchAD = "coffer batch token v1"
	// maxBatchLen bounds the work done on a presented token before it is
	// known to be genuine.
	maxBatchLen = 16 << 10
	// batchCutoffKey keeps, per path prefix, when an auth method was
	// disabled: batch tokens it issued before then are dead (they cannot
	// be revoked one by one).
	batchCutoffKey = "batch-cutoffs"
)

// batchEncoding is strict so that each token has exactly one spelling.
var batchEncoding = base64.RawURLEncoding.Strict()

// loadBatchKey reads the batch token key, generating and storing it on
// first use.
func (s *Store) loadBatchKey(ctx context.Context) error {
	e, err := s.storage.Get(ctx, batchKeyName)
	if err != nil {
		return fmt.Errorf("read batch token key: %w", err)
	}
	var key []byte
	switch {
	case e != nil && len(e.Value) == 32:
		key = e.Value
	case e != nil:
		return fmt.Errorf("%w: batch token key has length %d, want 32", ErrCorrupt, len(e.Value))
	default:
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return fmt.Errorf("generate batch token key: %w", err)
		}
		if err := s.storage.Put(ctx, &logical.StorageEntry{Key: batchKeyName, Value: key}); err != nil {
			return fmt.Errorf("store batch token key: %w", err)
		}
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return fmt.Errorf("batch token key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return fmt.Errorf("batch token key: %w", err)
	}
	s.batch = aead
	return s.loadCutoffs(ctx)
}

// sealBatch returns the batch token that carries e.
func (s *Store) sealBatch(e *Entry) (string, error) {
	c := batchClaims{
		Parent: e.ParentHash, Policies: e.Policies, Path: e.Path, Meta: e.Meta, Display: e.DisplayName,
		Created: e.CreationTime.Unix(), TTL: int64(e.TTL / time.Second), Role: e.Role, CIDRs: e.BoundCIDRs,
		Entity: e.EntityID,
	}
	pt := c.encode()
	ns := s.batch.NonceSize()
	buf := make([]byte, 1+ns, 1+ns+len(pt)+s.batch.Overhead())
	buf[0] = batchVersion
	if _, err := rand.Read(buf[1 : 1+ns]); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	buf = s.batch.Seal(buf, buf[1:1+ns], pt, []byte(batchAD))
	return batchPrefix + batchEncoding.EncodeToString(buf), nil
}

// openBatch returns the entry a batch token carries, or nil when id is not
// a genuine batch token of this store (malformed, tampered with, or sealed
// under another key). It does not check expiry or the parent.
func (s *Store) openBatch(id string) *Entry {
	if !IsBatch(id) || len(id) > maxBatchLen {
		return nil
	}
	raw, err := batchEncoding.DecodeString(id[len(batchPrefix):])
	ns := s.batch.NonceSize()
	if err != nil || len(raw) < 1+ns+s.batch.Overhead() || (raw[0] != batchVersion && raw[0] != batchVersionNoEntity) {
		return nil
	}
	pt, err := s.batch.Open(nil, raw[1:1+ns], raw[1+ns:], []byte(batchAD))
	if err != nil {
		return nil
	}
	c, err := decodeClaims(pt, raw[0])
	if err != nil || c.TTL <= 0 {
		return nil
	}
	created := time.Unix(c.Created, 0).UTC()
	ttl := time.Duration(c.TTL) * time.Second
	return &Entry{
		Policies: c.Policies, ParentHash: c.Parent, Meta: c.Meta, DisplayName: c.Display,
		CreationTime: created, TTL: ttl, ExpireTime: created.Add(ttl), Orphan: c.Parent == "",
		Path: c.Path, Type: TypeBatch, Role: c.Role, BoundCIDRs: c.CIDRs, EntityID: c.Entity,
	}
}

// lookupBatch returns the live entry of batch token id, or nil, nil. A
// batch token with a parent dies with it, as in Vault; one issued by an
// auth method that has since been disabled is dead too.
func (s *Store) lookupBatch(ctx context.Context, id string) (*Entry, error) {
	e := s.openBatch(id)
	if e == nil || e.expired(s.now()) || s.cutOff(e) {
		return nil, nil
	}
	if e.ParentHash != "" {
		p, err := s.lookupHash(ctx, e.ParentHash)
		if err != nil || p == nil {
			return nil, err
		}
	}
	return e, nil
}

// loadCutoffs reads the disabled-mount cut-off times.
func (s *Store) loadCutoffs(ctx context.Context) error {
	m := map[string]time.Time{}
	if _, err := logical.GetJSON(ctx, s.storage, batchCutoffKey, &m); err != nil {
		return fmt.Errorf("read batch token cut-offs: %w", err)
	}
	s.cutoffs.Store(&m)
	return nil
}

// addCutoff kills, from now on, every batch token issued under prefix
// until now.
func (s *Store) addCutoff(ctx context.Context, prefix string) error {
	s.cutoffMu.Lock()
	defer s.cutoffMu.Unlock()
	old := *s.cutoffs.Load()
	m := make(map[string]time.Time, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[prefix] = s.now()
	if err := logical.PutJSON(ctx, s.storage, batchCutoffKey, m); err != nil {
		return fmt.Errorf("store batch token cut-off: %w", err)
	}
	s.cutoffs.Store(&m)
	return nil
}

// cutOff reports whether e was issued under a prefix whose auth method was
// disabled after e was created.
func (s *Store) cutOff(e *Entry) bool {
	for prefix, at := range *s.cutoffs.Load() {
		if strings.HasPrefix(e.Path, prefix) && !e.CreationTime.After(at) {
			return true
		}
	}
	return false
}

// newBatchID seals e as a batch token; e's creation time is truncated to
// the second the token records, so a lookup shows what the create did. An
// explicit max TTL has already capped e's TTL; the token does not carry it.
func (s *Store) newBatchID(e *Entry) (string, error) {
	e.Hash, e.Accessor, e.NumUses, e.Renewable, e.ExplicitMaxTTL = "", "", 0, false, 0
	e.CreationTime = e.CreationTime.Truncate(time.Second)
	e.ExpireTime = e.CreationTime.Add(e.TTL)
	return s.sealBatch(e)
}
