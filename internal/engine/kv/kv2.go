package kv

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// v2 is a versioned KV mount. Each secret path has a metadata record at
// "metadata/<path>" (so that LIST on metadata is a storage List) and one
// entry per kept version at "versions/<sha256 of path>/<version>". Writers
// to one path are serialised by a striped lock so that check-and-set is
// exact; every write commits its metadata and data in one transaction.
// Readers take no lock: a read is one metadata Get and one version Get.
type v2 struct {
	storage logical.Storage
	locks   stripes
	// clock is time.Now except in tests of delete_version_after.
	clock func() time.Time
}

func newV2(s logical.Storage) *framework.Backend { return newV2Clock(s, time.Now) }

func newV2Clock(s logical.Storage, clock func() time.Time) *framework.Backend {
	b := &v2{storage: s, clock: clock}
	var paths []*framework.Path
	paths = append(paths, b.configPaths()...)
	paths = append(paths, b.dataPaths()...)
	paths = append(paths, b.metadataPaths()...)
	paths = append(paths, b.deletePaths()...)
	paths = append(paths, b.subkeysPaths()...)
	return &framework.Backend{Paths: paths}
}

func (b *v2) now() int64 { return b.clock().UnixNano() }

// exists is the existence check of data and metadata routes: a secret
// exists once it has metadata, even if every version is deleted.
func (b *v2) exists(prefix string) framework.ExistenceFunc {
	return func(ctx context.Context, req *logical.Request, _ *framework.FieldData) (bool, error) {
		p, err := secretPath(req, prefix)
		if err != nil {
			return false, err
		}
		// Only presence matters here: the handler reads (and decrypts) the
		// metadata once, under the path's lock.
		ok, err := logical.Exists(ctx, b.storage, metadataPrefix+p)
		if err != nil {
			return false, fmt.Errorf("read metadata: %w", err)
		}
		return ok, nil
	}
}

// version is one version of a secret as a read finds it. Data is nil when
// the version is deleted or destroyed.
type version struct {
	// meta is the path's metadata; its Versions map is nil when the
	// version was found by peekVersion.
	meta *keyMeta
	num  uint64
	vm   versionMeta
	// raw is the version's data as stored (a JSON object); nil when the
	// version is deleted or destroyed.
	raw []byte
	// head backs meta for peekVersion, saving an allocation.
	head keyMeta
}

// decoded returns the version's data as a map, for the routes that look
// inside it (patch, subkeys).
func (v *version) decoded() (map[string]any, error) {
	if v.raw == nil {
		return nil, nil
	}
	return decodeObject(v.raw)
}

// readVersion finds version num of path (the current one when num is 0),
// with the path's whole metadata, for a write that commits after it.
// It returns nil when the path or that version does not exist.
func (b *v2) readVersion(ctx context.Context, path string, num int) (*version, error) {
	return b.findVersion(ctx, path, num, true)
}

// peekVersion is readVersion for a read that answers with one version:
// the metadata it returns keeps no map of the other versions.
func (b *v2) peekVersion(ctx context.Context, path string, num int) (*version, error) {
	return b.findVersion(ctx, path, num, false)
}

func (b *v2) findVersion(ctx context.Context, path string, num int, all bool) (*version, error) {
	if num < 0 {
		return nil, logical.InvalidRequest("version must not be negative")
	}
	// One read for both keys: one storage transaction where the storage
	// has them, however many keys the cache above it misses.
	r, err := logical.BeginRead(ctx, b.storage)
	if err != nil {
		return nil, fmt.Errorf("read metadata: %w", err)
	}
	defer r.Done()
	raw, ok, err := r.Get(ctx, metadataPrefix+path)
	if err != nil {
		return nil, fmt.Errorf("read metadata: %w", err)
	}
	if !ok {
		return nil, nil
	}
	out := &version{}
	out.meta = &out.head
	vm, ok, err := decodeMetaInto(out.meta, raw, uint64(num), all)
	if err != nil || !ok {
		return nil, err
	}
	out.num, out.vm = uint64(num), vm
	if out.num == 0 {
		out.num = out.meta.CurrentVersion
	}
	if !vm.live(b.now()) {
		return out, nil
	}
	if out.num == out.meta.CurrentVersion && out.meta.Head != nil {
		out.raw = out.meta.Head
		return out, nil
	}
	raw, ok, err = r.Get(ctx, versionKey(hashPath(path), out.num))
	if err != nil {
		return nil, fmt.Errorf("read version: %w", err)
	}
	if !ok {
		// Destroyed or pruned by a writer between our two reads.
		return out, nil
	}
	// Reads hand the stored JSON out as it is: decoding and re-encoding
	// it for every read would cost a fifth of the read path.
	out.raw = raw
	return out, nil
}

// casOption reads options.cas from a write as Vault does: an options.cas
// that is present (null counts as 0) makes the write checked. A negative
// number is a valid parameter that never matches a version; anything but a
// whole number is a 400.
func casOption(d *framework.FieldData) (cas int64, checked bool, err error) {
	opts, _ := d.Get("options").(map[string]any)
	raw, ok := opts["cas"]
	if !ok {
		return 0, false, nil
	}
	switch v := raw.(type) {
	case nil:
		return 0, true, nil
	case json.Number:
		cas, err = v.Int64()
	case string:
		cas, err = strconv.ParseInt(v, 10, 64)
	case float64:
		cas = int64(v)
		if float64(cas) != v {
			err = strconv.ErrSyntax
		}
	case int:
		cas = int64(v)
	default:
		err = strconv.ErrSyntax
	}
	if err != nil {
		return 0, false, logical.InvalidRequest(
			"error parsing check-and-set parameter: options.cas must be a whole number, the version the write expects to replace (0 for a new secret), got %.40v", raw)
	}
	return cas, true, nil
}

// writeReq is a new version about to be committed.
type writeReq struct {
	path   string
	hash   pathHash
	data   map[string]any
	cas    int64
	hasCAS bool
}

// checkCAS applies check-and-set to a write of a secret whose metadata is
// m. Like Vault's KV v2, both refusals are 400s: a mismatch (a negative cas
// included) says only that it did not match, whatever the version is.
func (w writeReq) checkCAS(m *keyMeta, cfg mountConfig) error {
	switch {
	case w.hasCAS && (w.cas < 0 || uint64(w.cas) != m.CurrentVersion):
		return logical.CodedError(logical.ErrCASMismatch, "%s", logical.ErrCASMismatch.Error())
	case !w.hasCAS && m.casRequired(cfg):
		return logical.InvalidRequest(
			"check-and-set parameter required for this call: set options.cas to the current version (0 to create)")
	}
	return nil
}

// commit checks CAS against m, adds w as the next version of m, prunes old
// versions and stores everything in one transaction. The caller holds the
// path's lock. It returns the new version's metadata as a write answers it.
func (b *v2) commit(ctx context.Context, m *keyMeta, cfg mountConfig, w writeReq) (*logical.Response, error) {
	if err := w.checkCAS(m, cfg); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(w.data)
	if err != nil {
		return nil, logical.InvalidRequest("secret data is not JSON-encodable: %v", err)
	}
	now := b.now()
	v := m.CurrentVersion + 1
	vm := versionMeta{CreatedTime: now}
	if dva := m.deleteAfter(cfg); dva > 0 {
		vm.DeletionTime = now + int64(dva)
	}
	if m.Versions == nil {
		m.Versions = map[uint64]versionMeta{}
	}
	m.Versions[v] = vm
	m.CurrentVersion, m.UpdatedTime = v, now
	m.Head = nil
	if len(raw) <= inlineLimit {
		m.Head = raw
	}
	ops := []logical.TxnOp{{Entry: &logical.StorageEntry{Key: versionKey(w.hash, v), Value: raw}}}
	ops = append(ops, m.prune(w.hash, cfg)...)
	if err := b.saveMeta(ctx, w.path, m, ops); err != nil {
		return nil, err
	}
	return logical.DataResponse(m.versionResponse(v, vm)), nil
}

// saveMeta stores m with ops in one transaction.
func (b *v2) saveMeta(ctx context.Context, path string, m *keyMeta, ops []logical.TxnOp) error {
	if err := logical.ApplyTxn(ctx, b.storage, append(ops, logical.TxnOp{Entry: metaEntry(path, m)})); err != nil {
		return fmt.Errorf("write secret: %w", err)
	}
	return nil
}

// newMeta is the metadata of a path that has none yet.
func newMeta(now int64) *keyMeta {
	return &keyMeta{CreatedTime: now, UpdatedTime: now, Versions: map[uint64]versionMeta{}}
}

// parseVersions turns the "versions" field into version numbers.
func parseVersions(d *framework.FieldData) ([]uint64, error) {
	raw := d.Strings("versions")
	if len(raw) == 0 {
		return nil, logical.InvalidRequest("no versions provided: set \"versions\" to a list of version numbers")
	}
	out := make([]uint64, 0, len(raw))
	for _, s := range raw {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return nil, logical.InvalidRequest("invalid version %q: versions are positive integers", s)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
