package kv

import (
	"context"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// versionChange decides what happens to one version: its new state, and
// whether its data is to be removed from storage.
type versionChange func(vm versionMeta, now int64) (versionMeta, bool)

// softDelete marks a live version deleted now; deleted and destroyed
// versions stay as they are.
func softDelete(vm versionMeta, now int64) (versionMeta, bool) {
	if vm.live(now) {
		vm.DeletionTime = now
	}
	return vm, false
}

// undelete makes a soft-deleted version readable again; destroyed data is
// gone for good.
func undelete(vm versionMeta, _ int64) (versionMeta, bool) {
	if !vm.Destroyed {
		vm.DeletionTime = 0
	}
	return vm, false
}

// destroy removes a version's data for good and marks it destroyed.
func destroy(vm versionMeta, _ int64) (versionMeta, bool) {
	vm.Destroyed = true
	return vm, true
}

func (b *v2) deletePaths() []*framework.Path {
	route := func(prefix string, change versionChange, help string) *framework.Path {
		return &framework.Path{
			Pattern: prefix + framework.MatchAllRegex("path"),
			Fields: map[string]*framework.FieldSchema{
				"path":     {Type: framework.TypeString, Description: "Path of the secret."},
				"versions": {Type: framework.TypeStringSlice, Description: "Version numbers to change."},
			},
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.UpdateOperation: b.changeVersions(prefix, change),
			},
			Help: help,
		}
	}
	return []*framework.Path{
		route("delete/", softDelete, "Soft-delete versions of a secret; undelete brings them back."),
		route("undelete/", undelete, "Restore soft-deleted versions of a secret."),
		route("destroy/", destroy, "Remove the data of versions of a secret for good."),
	}
}

// changeVersions applies change to the listed versions of a secret.
// Versions the secret does not keep are ignored, as Vault does.
func (b *v2) changeVersions(prefix string, change versionChange) framework.OperationFunc {
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		p, err := secretPath(req, prefix)
		if err != nil {
			return nil, err
		}
		versions, err := parseVersions(d)
		if err != nil {
			return nil, err
		}
		h := hashPath(p)
		defer b.locks.lock(h).Unlock()
		m, err := loadMeta(ctx, b.storage, p)
		if err != nil || m == nil {
			return nil, err
		}
		now := b.now()
		var ops []logical.TxnOp
		for _, v := range versions {
			vm, ok := m.Versions[v]
			if !ok {
				continue
			}
			nvm, drop := change(vm, now)
			m.Versions[v] = nvm
			if drop {
				if v == m.CurrentVersion {
					m.Head = nil
				}
				ops = append(ops, logical.TxnOp{Delete: true, Entry: &logical.StorageEntry{Key: versionKey(h, v)}})
			}
		}
		m.UpdatedTime = now
		return nil, b.saveMeta(ctx, p, m, ops)
	}
}
