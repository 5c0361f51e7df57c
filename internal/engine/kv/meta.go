package kv

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// defaultMaxVersions is how many versions a key keeps when neither the key
// nor the mount says otherwise.
const defaultMaxVersions = 10

// mountConfig is the mount-wide settings stored at configKey. Short JSON
// names keep the stored record small; it is never shown to clients as-is.
type mountConfig struct {
	MaxVersions        int           `json:"max,omitempty"`
	CASRequired        bool          `json:"cas,omitempty"`
	DeleteVersionAfter time.Duration `json:"dva,omitempty"`
}

// keyMeta is everything about one secret path except its data: its settings
// and the state of every version it still keeps. Times are Unix
// nanoseconds so that decoding a read's metadata does no time parsing; the
// stored form is binary (see codec.go).
type keyMeta struct {
	CurrentVersion     uint64
	OldestVersion      uint64
	MaxVersions        int
	CASRequired        bool
	DeleteVersionAfter time.Duration
	CustomMetadata     map[string]string
	CreatedTime        int64
	UpdatedTime        int64
	Versions           map[uint64]versionMeta
	// Head is a copy of the current version's data (as stored under
	// versions/) when it is at most inlineLimit bytes, so that a read of
	// the current version is one storage Get: the record sits in the same
	// B+tree leaf as its neighbours, while the version's key is elsewhere.
	// nil when the data is larger, the record predates format 2, or the
	// version was destroyed. Writers set it; encodeMeta drops a stale one.
	Head []byte
}

// versionMeta is the state of one version. DeletionTime is zero when the
// version is not scheduled for deletion; a version whose DeletionTime has
// passed reads as deleted.
type versionMeta struct {
	CreatedTime  int64
	DeletionTime int64
	Destroyed    bool
}

// live reports whether the version's data can be read at now.
func (v versionMeta) live(now int64) bool {
	return !v.Destroyed && (v.DeletionTime == 0 || v.DeletionTime > now)
}

// loadMeta reads the metadata of a secret path; nil when it has none.
func loadMeta(ctx context.Context, s logical.Storage, path string) (*keyMeta, error) {
	e, err := s.Get(ctx, metadataPrefix+path)
	if err != nil {
		return nil, fmt.Errorf("read metadata: %w", err)
	}
	if e == nil {
		return nil, nil
	}
	return decodeMeta(e.Value)
}

// loadConfig reads the mount settings; the zero value when none are stored.
func loadConfig(ctx context.Context, s logical.Storage) (mountConfig, error) {
	var c mountConfig
	e, err := s.Get(ctx, configKey)
	if err != nil {
		return mountConfig{}, fmt.Errorf("read config: %w", err)
	}
	if e == nil {
		return c, nil
	}
	if err := json.Unmarshal(e.Value, &c); err != nil {
		return mountConfig{}, fmt.Errorf("%w: config: %v", ErrCorruptEntry, err)
	}
	return c, nil
}

// effective settings: a key's own value wins when set, then the mount's.
func (m *keyMeta) maxVersions(c mountConfig) int {
	switch {
	case m.MaxVersions > 0:
		return m.MaxVersions
	case c.MaxVersions > 0:
		return c.MaxVersions
	}
	return defaultMaxVersions
}

func (m *keyMeta) casRequired(c mountConfig) bool { return m.CASRequired || c.CASRequired }

// deleteAfter is the shorter of the key's and the mount's non-zero
// delete_version_after, as in Vault: a key cannot outlive the mount's
// retention limit by asking for a longer one.
func (m *keyMeta) deleteAfter(c mountConfig) time.Duration {
	switch {
	case m.DeleteVersionAfter > 0 && c.DeleteVersionAfter > 0:
		return min(m.DeleteVersionAfter, c.DeleteVersionAfter)
	case m.DeleteVersionAfter > 0:
		return m.DeleteVersionAfter
	}
	return c.DeleteVersionAfter
}

// prune drops the oldest versions beyond the effective max_versions and
// returns the storage ops that delete their data.
func (m *keyMeta) prune(h pathHash, c mountConfig) []logical.TxnOp {
	limit := m.maxVersions(c)
	if len(m.Versions) <= limit {
		return nil
	}
	vs := make([]uint64, 0, len(m.Versions))
	for v := range m.Versions {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	drop := vs[:len(vs)-limit]
	ops := make([]logical.TxnOp, 0, len(drop))
	for _, v := range drop {
		delete(m.Versions, v)
		ops = append(ops, logical.TxnOp{Delete: true, Entry: &logical.StorageEntry{Key: versionKey(h, v)}})
	}
	m.OldestVersion = vs[len(vs)-limit]
	return ops
}

// metaEntry encodes m as the storage entry for path.
func metaEntry(path string, m *keyMeta) *logical.StorageEntry {
	return &logical.StorageEntry{Key: metadataPrefix + path, Value: encodeMeta(m)}
}

// formatTime renders Unix nanoseconds as Vault does; "" for zero.
func formatTime(ns int64) string {
	if ns == 0 {
		return ""
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// customMetadata renders custom metadata as clients expect it: null when empty.
func (m *keyMeta) customMetadata() any {
	if len(m.CustomMetadata) == 0 {
		return nil
	}
	return m.CustomMetadata
}

// versionResponse is the metadata object a data read or write returns.
func (m *keyMeta) versionResponse(v uint64, vm versionMeta) map[string]any {
	return map[string]any{
		"created_time":    formatTime(vm.CreatedTime),
		"custom_metadata": m.customMetadata(),
		"deletion_time":   formatTime(vm.DeletionTime),
		"destroyed":       vm.Destroyed,
		"version":         v,
	}
}

// versionJSON is versionResponse as encoding/json writes it (keys sorted,
// times as formatTime renders them), appended directly: a data read
// answers with it, without the map, the time strings and the boxing.
// Custom metadata, the only client text in it, goes through json.Marshal.
func (m *keyMeta) versionJSON(v uint64, vm versionMeta) logical.StoredJSON {
	b := make([]byte, 0, 144)
	b = append(b, `{"created_time":`...)
	b = appendTime(b, vm.CreatedTime)
	b = append(b, `,"custom_metadata":`...)
	if len(m.CustomMetadata) == 0 {
		b = append(b, "null"...)
	} else {
		// A map of strings always encodes.
		cm, _ := json.Marshal(m.CustomMetadata)
		b = append(b, cm...)
	}
	b = append(b, `,"deletion_time":`...)
	b = appendTime(b, vm.DeletionTime)
	b = append(b, `,"destroyed":`...)
	b = strconv.AppendBool(b, vm.Destroyed)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, v, 10)
	return append(b, '}')
}

// appendTime appends formatTime(ns) as a JSON string; RFC 3339 needs no
// escaping.
func appendTime(b []byte, ns int64) []byte {
	b = append(b, '"')
	if ns != 0 {
		b = time.Unix(0, ns).UTC().AppendFormat(b, time.RFC3339Nano)
	}
	return append(b, '"')
}

// response is the whole metadata object a metadata read returns.
func (m *keyMeta) response() map[string]any {
	versions := make(map[string]any, len(m.Versions))
	for v, vm := range m.Versions {
		versions[strconv.FormatUint(v, 10)] = map[string]any{
			"created_time":  formatTime(vm.CreatedTime),
			"deletion_time": formatTime(vm.DeletionTime),
			"destroyed":     vm.Destroyed,
		}
	}
	return map[string]any{
		"cas_required":         m.CASRequired,
		"created_time":         formatTime(m.CreatedTime),
		"current_version":      m.CurrentVersion,
		"custom_metadata":      m.customMetadata(),
		"delete_version_after": m.DeleteVersionAfter.String(),
		"max_versions":         m.MaxVersions,
		"oldest_version":       m.OldestVersion,
		"updated_time":         formatTime(m.UpdatedTime),
		"versions":             versions,
	}
}
