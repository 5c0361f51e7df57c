package cubbyhole

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cofferhq/coffer/internal/logical"
)

// Store keeps every token's cubbyhole in one storage view, each under its
// owner: the token's salted hash. Values are JSON objects. Safe for
// concurrent use; a cubbyhole belongs to one token, so writes to one are
// rare enough not to need more than the storage's own atomicity.
type Store struct {
	storage logical.Storage
}

// NewStore returns the cubbyholes kept in s.
func NewStore(s logical.Storage) *Store { return &Store{storage: s} }

func (c *Store) view(owner string) (*logical.View, error) {
	if owner == "" || strings.ContainsAny(owner, "/.") {
		return nil, errBadOwner
	}
	return logical.NewView(c.storage, owner+"/"), nil
}

// Put stores data at key in owner's cubbyhole.
func (c *Store) Put(ctx context.Context, owner, key string, data map[string]any) error {
	v, err := c.view(owner)
	if err != nil {
		return err
	}
	if err := logical.PutJSON(ctx, v, key, data); err != nil {
		return fmt.Errorf("write cubbyhole: %w", err)
	}
	return nil
}

// Get returns the data at key in owner's cubbyhole, or nil. Numbers come
// back as json.Number.
func (c *Store) Get(ctx context.Context, owner, key string) (map[string]any, error) {
	v, err := c.view(owner)
	if err != nil {
		return nil, err
	}
	e, err := v.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read cubbyhole: %w", err)
	}
	if e == nil {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(e.Value)))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("decode cubbyhole entry: %w", err)
	}
	return out, nil
}

// List returns the keys directly under prefix in owner's cubbyhole.
func (c *Store) List(ctx context.Context, owner, prefix string) ([]string, error) {
	v, err := c.view(owner)
	if err != nil {
		return nil, err
	}
	return v.List(ctx, prefix)
}

// Delete deletes key from owner's cubbyhole; a missing key is no error.
func (c *Store) Delete(ctx context.Context, owner, key string) error {
	v, err := c.view(owner)
	if err != nil {
		return err
	}
	return v.Delete(ctx, key)
}

// Destroy deletes owner's whole cubbyhole, in one transaction where the
// storage has them. The token store calls it for every token it revokes.
func (c *Store) Destroy(ctx context.Context, owner string) error {
	v, err := c.view(owner)
	if err != nil {
		return err
	}
	var ops []logical.TxnOp
	var walk func(prefix string) error
	walk = func(prefix string) error {
		keys, err := v.List(ctx, prefix)
		if err != nil {
			return fmt.Errorf("list cubbyhole: %w", err)
		}
		for _, k := range keys {
			if strings.HasSuffix(k, "/") {
				if err := walk(prefix + k); err != nil {
					return err
				}
				continue
			}
			ops = append(ops, logical.TxnOp{Delete: true, Entry: &logical.StorageEntry{Key: prefix + k}})
		}
		return nil
	}
	if err := walk(""); err != nil || len(ops) == 0 {
		return err
	}
	if err := logical.ApplyTxn(ctx, v, ops); err != nil {
		return fmt.Errorf("destroy cubbyhole: %w", err)
	}
	return nil
}

// Owners lists the owners that have a cubbyhole.
func (c *Store) Owners(ctx context.Context) ([]string, error) {
	keys, err := c.storage.List(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list cubbyholes: %w", err)
	}
	out := keys[:0]
	for _, k := range keys {
		if strings.HasSuffix(k, "/") {
			out = append(out, strings.TrimSuffix(k, "/"))
		}
	}
	return out, nil
}

// Tidy destroys the cubbyholes whose owner no longer exists (exists says,
// by token hash): what a crash between a token's revocation and its
// cubbyhole's destruction leaves behind. It returns how many it destroyed
// and the first error; a failure on one does not stop the rest.
func (c *Store) Tidy(ctx context.Context, exists func(ctx context.Context, owner string) (bool, error)) (int, error) {
	owners, err := c.Owners(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var first error
	for _, o := range owners {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		ok, err := exists(ctx, o)
		if err == nil && !ok {
			if err = c.Destroy(ctx, o); err == nil {
				n++
			}
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return n, first
}
