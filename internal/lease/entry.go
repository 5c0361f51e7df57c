package lease

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// Storage layout, relative to the manager's own view. Lease IDs appear in
// key names, as in Vault; secret values never do.
const (
	idPrefix    = "id/"    // id/<lease ID> → entry JSON
	expPrefix   = "exp/"   // exp/<index name> → empty: the expiry index
	tokenPrefix = "token/" // token/<token hash>/<lease ID hash> → lease ID
)

// Index name flags: a lease waiting for its expiry, or one whose revocation
// failed and waits for its next attempt.
const (
	flagExpiry = 'e'
	flagRetry  = 'r'
)

// entry is one lease as stored. Internal is the engine's InternalData: it
// stays in the barrier and goes back only to the issuing mount.
type entry struct {
	ID   string `json:"lease_id"`
	Path string `json:"path"`
	// Token is the hash of the token whose revocation revokes the lease:
	// the token that obtained it, or a batch token's parent; empty when
	// none (an orphan batch token).
	Token string `json:"token_hash,omitempty"`
	// TokenExpire caps the lease at the end of the batch token that
	// obtained it.
	TokenExpire time.Time      `json:"token_expire,omitzero"`
	Renewable   bool           `json:"renewable"`
	TTL         time.Duration  `json:"ttl"`
	MaxTTL      time.Duration  `json:"max_ttl,omitempty"`
	Internal    map[string]any `json:"internal"`
	IssueTime   time.Time      `json:"issue_time"`
	ExpireTime  time.Time      `json:"expire_time"`
	LastRenewal time.Time      `json:"last_renewal,omitzero"`
	// Index is the name of the lease's key in the expiry index.
	Index string `json:"index"`
	// Revocation records failed attempts; nil while none failed.
	Revocation *revocation `json:"revocation,omitempty"`
}

// revocation is the state of a revocation that failed at least once.
type revocation struct {
	Attempts    int       `json:"attempts"`
	Error       string    `json:"error"`
	LastAttempt time.Time `json:"last_attempt"`
	NextAttempt time.Time `json:"next_attempt"`
}

// maxErrorLen bounds the error text kept with a failing lease, as Vault's
// 240 characters do.
const maxErrorLen = 240

func decodeEntry(b []byte) (*entry, error) {
	var e entry
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // numbers in InternalData come back exact, as json.Number
	if err := d.Decode(&e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return &e, nil
}

// secret is the lease as the engine sees it on a renew or revoke request.
func (e *entry) secret() *logical.Secret {
	return &logical.Secret{
		TTL: e.TTL, MaxTTL: e.MaxTTL, Renewable: e.Renewable, InternalData: maps.Clone(e.Internal),
		IssueTime: e.IssueTime, LastRenewalTime: e.LastRenewal,
	}
}

// indexName is the key name, under expPrefix, that makes the queue item
// (at, id) restorable from a listing alone: the time in hex nanoseconds,
// a flag, and the lease ID in unpadded URL-safe base64 (IDs contain "/").
func indexName(at time.Time, flag byte, id string) string {
	return fmt.Sprintf("%016x%c%s", at.UnixNano(), flag, base64.RawURLEncoding.EncodeToString([]byte(id)))
}

// parseIndexName reverses indexName.
func parseIndexName(name string) (at int64, flag byte, id string, err error) {
	if len(name) < 18 {
		return 0, 0, "", fmt.Errorf("%w: index name %q", ErrCorrupt, name)
	}
	n, err := strconv.ParseInt(name[:16], 16, 64)
	if err != nil || n < 0 {
		return 0, 0, "", fmt.Errorf("%w: index name %q", ErrCorrupt, name)
	}
	raw, err := base64.RawURLEncoding.DecodeString(name[17:])
	if err != nil {
		return 0, 0, "", fmt.Errorf("%w: index name %q", ErrCorrupt, name)
	}
	return int64(n), name[16], string(raw), nil
}

// tokenKey is the token index key of lease id under the token hash.
func tokenKey(token, id string) string {
	sum := sha256.Sum256([]byte(id))
	return tokenPrefix + token + "/" + hex.EncodeToString(sum[:16])
}

// cleanID checks that id names a lease or a prefix of leases: a clean
// relative path. Lease IDs are request paths, so a clean one is the only
// kind there can be; anything else (and "../") could reach outside the
// manager's storage. A trailing slash is allowed only when prefix is true.
func cleanID(id string, prefix bool) (string, error) {
	c, err := logical.CleanPath(id)
	if err != nil || c == "" || c != id || (!prefix && strings.HasSuffix(id, "/")) {
		return "", ErrBadID
	}
	return c, nil
}

const idChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomSuffix returns the random last segment of a lease ID: 24 base62
// characters, as Vault's, drawn without bias by rejecting the bytes past
// the last whole multiple of 62.
func randomSuffix() (string, error) {
	const n, limit = 24, 256 - 256%len(idChars)
	out := make([]byte, 0, n)
	var buf [32]byte
	for len(out) < n {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("read random: %w", err)
		}
		for _, c := range buf {
			if int(c) < limit && len(out) < n {
				out = append(out, idChars[int(c)%len(idChars)])
			}
		}
	}
	return string(out), nil
}
