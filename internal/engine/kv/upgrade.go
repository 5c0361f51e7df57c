package kv

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// versioned is a version 2 mount that can take over a version 1 mount's
// data in place (a tune of options.version from 1 to 2, as Vault allows).
type versioned struct {
	*framework.Backend
	clock func() time.Time
}

var _ logical.StorageUpgrader = versioned{}

// UpgradeOps implements logical.StorageUpgrader: every version 1 secret
// becomes version 1 of a version 2 secret at the same path, with the same
// data. A secret whose path lies where version 2 keeps its own records
// ("config", "metadata/…", "versions/…") would be lost in the change, so
// its presence refuses the upgrade and nothing is written. Version 2 data
// is never converted back: Vault refuses that downgrade too.
func (v versioned) UpgradeOps(ctx context.Context, s logical.Storage, previous map[string]string) ([]logical.TxnOp, error) {
	if p := previous["version"]; p != "" && p != "1" {
		return nil, logical.InvalidRequest("kv: cannot upgrade from version %q", p)
	}
	keys, err := logical.CollectKeys(ctx, s, "")
	if err != nil {
		return nil, fmt.Errorf("list version 1 secrets: %w", err)
	}
	for _, k := range keys {
		if k == configKey || strings.HasPrefix(k, metadataPrefix) || strings.HasPrefix(k, versionsPrefix) {
			return nil, logical.InvalidRequest("cannot upgrade to version 2: the secret %q lies where version 2 keeps its own records (%q, %q, %q); move or delete it first",
				k, configKey, metadataPrefix, versionsPrefix)
		}
	}
	now := v.clock().UnixNano()
	ops := make([]logical.TxnOp, 0, 3*len(keys))
	for _, k := range keys {
		e, err := s.Get(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("read version 1 secret: %w", err)
		}
		if e == nil {
			continue // deleted since the listing; nothing to convert
		}
		if _, err := decodeObject(e.Value); err != nil {
			return nil, fmt.Errorf("version 1 secret is not a JSON object: %w", err)
		}
		m := newMeta(now)
		m.CurrentVersion, m.OldestVersion = 1, 1
		m.Versions[1] = versionMeta{CreatedTime: now}
		m.Head = e.Value
		ops = append(ops,
			logical.TxnOp{Entry: &logical.StorageEntry{Key: versionKey(hashPath(k), 1), Value: e.Value}},
			logical.TxnOp{Entry: metaEntry(k, m)},
			logical.TxnOp{Delete: true, Entry: &logical.StorageEntry{Key: k}},
		)
	}
	return ops, nil
}
