package approle

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cofferhq/coffer/internal/logical"
)

// tidyResult counts what one tidy run removed.
type tidyResult struct {
	// Expired is how many expired secret IDs were deleted.
	Expired int
	// Dangling is how many half-written records were deleted: accessors
	// whose secret ID is gone, and secret IDs without their accessor
	// (what storage without transactions can leave after a crash).
	Dangling int
}

// tidy deletes expired secret IDs and dangling records of every role. It
// reads every secret ID, so it runs in the background (tidy/secret-id and
// the periodic sweep), never on a request path. A failure on one entry
// does not stop the rest; the first error is returned.
func (s *secretStore) tidy(ctx context.Context) (tidyResult, error) {
	var res tidyResult
	errSecrets := s.tidySecrets(ctx, &res)
	errAccessors := s.tidyAccessors(ctx, &res)
	return res, errors.Join(errSecrets, errAccessors)
}

func (s *secretStore) tidySecrets(ctx context.Context, res *tidyResult) error {
	roles, err := s.storage.List(ctx, secretPrefix)
	if err != nil {
		return fmt.Errorf("list roles of secret IDs: %w", err)
	}
	var first error
	for _, dir := range roles {
		if !strings.HasSuffix(dir, "/") {
			continue
		}
		roleHMAC := strings.TrimSuffix(dir, "/")
		hashes, err := s.storage.List(ctx, secretPrefix+dir)
		if err != nil {
			first = cmpFirst(first, fmt.Errorf("list secret IDs: %w", err))
			continue
		}
		for _, h := range hashes {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if strings.HasSuffix(h, "/") {
				continue
			}
			first = cmpFirst(first, s.tidyOne(ctx, roleHMAC, h, res))
		}
	}
	return first
}

// tidyOne deletes one secret ID if it has expired or lost its accessor.
func (s *secretStore) tidyOne(ctx context.Context, roleHMAC, secretHMAC string, res *tidyResult) error {
	mu := s.lockFor(secretHMAC)
	mu.Lock()
	defer mu.Unlock()
	e, err := s.load(ctx, roleHMAC, secretHMAC)
	if err != nil || e == nil {
		return err
	}
	if e.expired(s.now()) {
		if err := logical.ApplyTxn(ctx, s.storage, s.removeOps(e)); err != nil {
			return fmt.Errorf("delete expired secret ID: %w", err)
		}
		res.Expired++
		return nil
	}
	acc, err := s.storage.Get(ctx, accessorPrefix+s.mac(e.Accessor))
	if err != nil {
		return fmt.Errorf("read secret ID accessor: %w", err)
	}
	if acc == nil {
		if err := s.storage.Delete(ctx, entryKey(roleHMAC, secretHMAC)); err != nil {
			return fmt.Errorf("delete secret ID without accessor: %w", err)
		}
		res.Dangling++
	}
	return nil
}

func (s *secretStore) tidyAccessors(ctx context.Context, res *tidyResult) error {
	keys, err := s.storage.List(ctx, accessorPrefix)
	if err != nil {
		return fmt.Errorf("list secret ID accessors: %w", err)
	}
	var first error
	for _, k := range keys {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var a accessorEntry
		found, err := logical.GetJSON(ctx, s.storage, accessorPrefix+k, &a)
		if err != nil || !found {
			first = cmpFirst(first, err)
			continue
		}
		first = cmpFirst(first, s.tidyAccessor(ctx, k, &a, res))
	}
	return first
}

// tidyAccessor deletes the accessor record named k when its secret ID is
// gone. The secret ID's lock keeps a create (which writes both) out.
func (s *secretStore) tidyAccessor(ctx context.Context, k string, a *accessorEntry, res *tidyResult) error {
	mu := s.lockFor(a.SecretIDHMAC)
	mu.Lock()
	defer mu.Unlock()
	e, err := s.storage.Get(ctx, entryKey(a.RoleHMAC, a.SecretIDHMAC))
	if err != nil {
		return fmt.Errorf("read secret ID: %w", err)
	}
	if e != nil {
		return nil
	}
	if err := s.storage.Delete(ctx, accessorPrefix+k); err != nil {
		return fmt.Errorf("delete dangling accessor: %w", err)
	}
	res.Dangling++
	return nil
}

// cmpFirst keeps the first non-nil error.
func cmpFirst(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
