package kv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// Factory builds a KV backend for a mount. conf.Options["version"] picks the
// flavour: "1" or absent for version 1, "2" for version 2; any other value
// is a 400-class error. The backend keeps everything in conf.Storage and is
// safe for concurrent use.
func Factory(_ context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	if conf == nil || conf.Storage == nil {
		return nil, ErrNoStorage
	}
	switch v := conf.Options["version"]; v {
	case "", "1":
		return newV1(conf.Storage, conf.System), nil
	case "2":
		return versioned{Backend: newV2(conf.Storage), clock: time.Now}, nil
	default:
		return nil, logical.InvalidRequest("kv: unsupported version %q; use \"1\" or \"2\"", v)
	}
}

// stripes serialises writers to the same secret path without making writers
// to different paths contend (except on a hash collision of the stripe
// index, which only costs a little waiting).
type stripes [256]sync.Mutex

// lock takes the stripe of a path hash and returns it, locked: callers
// defer its Unlock (a method value returned instead would allocate).
func (s *stripes) lock(h pathHash) *sync.Mutex {
	m := &s[h[0]]
	m.Lock()
	return m
}

// pathHash is the SHA-256 of a secret path: it names the storage folder of
// the path's versions, so that version keys never reveal the path's shape
// and all versions of one secret sit together.
type pathHash [sha256.Size]byte

func hashPath(p string) pathHash { return sha256.Sum256([]byte(p)) }

// versionKey is the storage key of one version's data.
func versionKey(h pathHash, v uint64) string {
	var b strings.Builder
	b.Grow(len(versionsPrefix) + 2*sha256.Size + 1 + 20)
	b.WriteString(versionsPrefix)
	var hx [2 * sha256.Size]byte
	hex.Encode(hx[:], h[:])
	b.Write(hx[:])
	b.WriteByte('/')
	b.WriteString(padVersion(v))
	return b.String()
}

// padVersion renders v in 20 digits so that version keys sort numerically.
func padVersion(v uint64) string {
	var buf [20]byte
	for i := len(buf) - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return string(buf[:])
}

// Storage layout of a version 2 mount.
const (
	configKey      = "config"
	metadataPrefix = "metadata/"
	versionsPrefix = "versions/"
)

// checkPath rejects secret paths a person could not have meant: empty ones,
// ones with empty, "." or ".." segments. folder allows (and ignores) one
// trailing "/", as LIST paths have.
// maxPathLen keeps a secret's storage key well inside bbolt's 32 KiB key
// limit, so an absurd path is a 400 rather than a storage failure.
const maxPathLen = 8 << 10

func checkPath(p string, folder bool) error {
	if folder {
		p = strings.TrimSuffix(p, "/")
	}
	if p == "" {
		return logical.InvalidRequest("missing secret path: add the path of a secret after the route")
	}
	if len(p) > maxPathLen {
		return logical.InvalidRequest("secret path is %d bytes long; the limit is %d", len(p), maxPathLen)
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "":
			return logical.InvalidRequest("invalid secret path %q: empty path segments are not allowed", p)
		case ".", "..":
			return logical.InvalidRequest("invalid secret path %q: %q segments are not allowed", p, seg)
		}
	}
	return nil
}

// secretPath returns the part of req.Path after prefix, validated. It reads
// req.Path rather than the route's capture so that a body field of the same
// name can never redirect a request to a path the policy check did not see.
func secretPath(req *logical.Request, prefix string) (string, error) {
	p, ok := strings.CutPrefix(req.Path, prefix)
	if !ok {
		return "", logical.CodedError(logical.ErrUnsupportedPath, "unsupported path")
	}
	if err := checkPath(p, false); err != nil {
		return "", err
	}
	return p, nil
}

// listKeys lists storage under prefix, answering (nil, nil) for an empty
// folder so that the HTTP layer replies 404, as Vault does.
func listKeys(ctx context.Context, s logical.Storage, prefix string) (*logical.Response, error) {
	keys, err := s.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, nil
	}
	return logical.DataResponse(map[string]any{"keys": keys}), nil
}

// pathField is the capture every secret route declares; handlers read the
// path from req.Path (see secretPath), the field exists for documentation.
func pathField() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"path": {Type: framework.TypeString, Description: "Path of the secret, relative to the mount."},
	}
}
