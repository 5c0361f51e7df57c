package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/barrier"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/seal"
)

// An initialisation writes the seal configuration, the keyring and then,
// through the barrier, the cluster identity, its TLS key and the root
// token. The unseal keys and the root token are handed out only at the
// end, so one that fails midway (a full disk, a database that went away)
// would leave a store that reads as initialised and that nobody can ever
// unseal. initUndo removes what the failed initialisation wrote, so that
// the store is as it was and the operator can run init again.
type initUndo struct {
	p      physical.Backend
	before map[string]bool
	// key is this initialisation's unseal key once its keyring is stored
	// (a copy, wiped by undo). Only a stored keyring that opens with it is
	// this initialisation's: servers sharing one storage (postgresql) may
	// both be told to init, and the one that fails must not remove what
	// the other wrote.
	key []byte
	// checked and owned: whether the stored keyring was this
	// initialisation's when it failed (see checkOwned).
	checked, owned bool
}

// checkOwned looks, once, whether the stored keyring opens with this
// initialisation's key. The initialisation calls it as it fails, before
// sealing the barrier again: sealing stores the keyring's encryption
// counts, which would make any keyring this one's.
func (u *initUndo) checkOwned(ctx context.Context) {
	if u == nil || u.checked || u.key == nil {
		return
	}
	u.checked = true
	e, err := u.p.Get(context.WithoutCancel(ctx), barrier.KeyringPath)
	u.owned = err == nil && e != nil && barrier.KeyringOpens(u.key, e.Value)
}

// keyringStored records the unseal key of the keyring just stored.
func (u *initUndo) keyringStored(key []byte) {
	if u != nil {
		u.key = bytes.Clone(key)
	}
}

// undoTimeout bounds the clean-up, which runs even when the request that
// asked for the initialisation has gone.
const undoTimeout = 30 * time.Second

// recordInit notes the keys the store holds before an initialisation; nil
// when the store is initialised already (the initialisation will refuse
// and write nothing), or when other servers share it (below).
func (c *Core) recordInit(ctx context.Context) (*initUndo, error) {
	if ok, err := c.barrier.Initialized(ctx); err != nil || ok {
		return nil, err
	}
	if sharedStorage(c.conf) && c.initLock == nil {
		return nil, nil
	}
	keys, err := logical.CollectKeys(ctx, c.conf.Physical, "")
	if err != nil {
		return nil, fmt.Errorf("list storage before initialising: %w", err)
	}
	u := &initUndo{p: c.conf.Physical, before: make(map[string]bool, len(keys))}
	for _, k := range keys {
		u.before[k] = true
	}
	return u, nil
}

// undo removes every key written since recordInit, the keyring first (its
// absence is what makes the store uninitialised again), after an
// initialisation failed with cause. It removes nothing unless the stored
// keyring is this initialisation's: without one the store reads as
// uninitialised anyway (a leftover seal configuration is replaced by the
// next init), and one that does not open with this key was stored by
// another server sharing the storage.
func (u *initUndo) undo(ctx context.Context, c *Core, cause error) {
	if u == nil {
		return
	}
	defer clear(u.key)
	if cause == nil || u.key == nil || errors.Is(cause, seal.ErrAlreadyInitialized) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	u.checkOwned(ctx)
	if !u.owned {
		c.logger.Warn("initialisation failed; the storage held no keyring of this initialisation (another server may have initialised it): nothing removed", "cause", cause.Error())
		return
	}
	keys, err := logical.CollectKeys(ctx, u.p, "")
	if err == nil {
		keys = slices.DeleteFunc(keys, func(k string) bool { return u.before[k] })
		slices.SortFunc(keys, func(a, b string) int {
			switch {
			case a == barrier.KeyringPath:
				return -1
			case b == barrier.KeyringPath:
				return 1
			}
			return strings.Compare(a, b)
		})
		for _, k := range keys {
			if err = u.p.Delete(ctx, k); err != nil {
				break
			}
		}
	}
	if err != nil {
		c.logger.Error("initialisation failed and what it wrote could not all be removed: if seal-status says initialised, empty the storage before running init again",
			"cause", cause.Error(), "error", err.Error())
		return
	}
	c.logger.Warn("initialisation failed; what it wrote was removed, so init can be run again", "cause", cause.Error(), "keys_removed", len(keys))
}

// sharedStorage reports whether other servers may run an init of the same
// storage at the same time: HA storage other than raft. Unless the storage
// serialises inits (lockInit), each would store its own keyring over the
// other's while bootstrapping, and an undo could remove the store another
// server handed keys out for, so a failed init there is left as it is.
// Raft initialises only on the node that leads.
func sharedStorage(conf Config) bool {
	return conf.HA != nil && conf.StorageType != "raft"
}

// lockInit holds the storage's init lock, when it has one, until the
// returned unlock: servers sharing PostgreSQL told to init at once then
// init one after the other, and the later one finds the store initialised
// (tried with two servers: before, both answered with keys and at most
// one set opened the store). The cache is emptied once the lock is held,
// so that a store another server just initialised is seen as such.
func (c *Core) lockInit(ctx context.Context) (func(), error) {
	if c.initLock == nil {
		return func() {}, nil
	}
	unlock, err := c.initLock.LockInit(ctx)
	if err != nil {
		return nil, err
	}
	if c.purge != nil {
		c.purge()
	}
	return unlock, nil
}

// forgetSealedReads empties the read cache of a sealed server whose storage
// other servers share, before it reads the keyring and seal configuration:
// another server may have initialised, rekeyed or (by a failed init's undo)
// emptied the store since, and a cached "no keyring" kept the server
// answering uninitialised and refusing the new keys until it restarted
// (found with two servers on PostgreSQL whose seal status had been read
// before the other was initialised). A sealed server caches nothing else.
func (c *Core) forgetSealedReads() {
	if c.purge != nil && sharedStorage(c.conf) && c.barrier.Sealed() {
		c.purge()
	}
}
