package core

import (
	"bytes"
	"context"
	"encoding/json"
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
	// initialisation's when it failed (see checkOwned); unknown when it
	// could not be read.
	checked, owned, unknown bool
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
	u.unknown = err != nil
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
//
// Before it returns, it stores the marker (barrier.InitPendingPath) with
// the keys it found, so that an initialisation the process does not live
// to finish or undo leaves a store that reads as uninitialised, and the
// next one removes what it wrote (redoInterrupted). The caller holds the
// lifecycle lock and the storage's init lock, so a marker found here is
// one no initialisation is still working on.
func (c *Core) recordInit(ctx context.Context) (*initUndo, error) {
	if sharedStorage(c.conf) && c.initLock == nil {
		_, err := c.barrier.Initialized(ctx) // no undo either way; only a read error is news
		return nil, err
	}
	if err := c.redoInterrupted(ctx); err != nil {
		return nil, err
	}
	if ok, err := c.barrier.Initialized(ctx); err != nil || ok {
		return nil, err
	}
	keys, err := logical.CollectKeys(ctx, c.conf.Physical, "")
	if err != nil {
		return nil, fmt.Errorf("list storage before initialising: %w", err)
	}
	u := &initUndo{p: c.conf.Physical, before: make(map[string]bool, len(keys))}
	for _, k := range keys {
		u.before[k] = true
	}
	m, err := json.Marshal(initMarker{Before: keys})
	if err != nil {
		return nil, err
	}
	if err := c.conf.Physical.Put(ctx, &physical.Entry{Key: barrier.InitPendingPath, Value: m}); err != nil {
		return nil, fmt.Errorf("store the init marker: %w", err)
	}
	return u, nil
}

// initMarker is what barrier.InitPendingPath holds: the keys the store
// held before the initialisation began.
type initMarker struct {
	Before []string `json:"before"`
}

// redoInterrupted removes what an interrupted initialisation wrote, as its
// undo would have, when the store holds its marker; the marker goes last,
// so a removal itself interrupted is taken up again by the next init.
func (c *Core) redoInterrupted(ctx context.Context) error {
	e, err := c.conf.Physical.Get(ctx, barrier.InitPendingPath)
	if err != nil || e == nil {
		return err
	}
	var m initMarker
	if err := json.Unmarshal(e.Value, &m); err != nil {
		return fmt.Errorf("the storage holds a damaged marker of an interrupted initialisation (%s): empty the storage before running init again", barrier.InitPendingPath)
	}
	u := &initUndo{p: c.conf.Physical, before: make(map[string]bool, len(m.Before))}
	for _, k := range m.Before {
		u.before[k] = true
	}
	n, err := u.removeNew(ctx)
	if err != nil {
		return fmt.Errorf("remove what an interrupted initialisation wrote: %w", err)
	}
	c.logger.Warn("an earlier initialisation was interrupted before it handed out keys; what it wrote was removed", "keys_removed", n)
	return nil
}

// done removes the marker once the initialisation has written everything;
// until it is gone the store is not initialised, so a failure here fails
// the initialisation (and undoes it) rather than hand out keys for a store
// the next init would remove.
func (u *initUndo) done(ctx context.Context) error {
	if u == nil {
		return nil
	}
	if err := u.p.Delete(ctx, barrier.InitPendingPath); err != nil {
		return fmt.Errorf("remove the init marker: %w", err)
	}
	return nil
}

// undo removes every key written since recordInit, the keyring first (its
// absence is what makes the store uninitialised again) and the marker
// last, after an initialisation failed with cause. A stored keyring that
// does not open with this initialisation's key (another server's, which
// only a failed init lock allows) and a store found initialised keep all
// but this initialisation's marker.
func (u *initUndo) undo(ctx context.Context, c *Core, cause error) {
	if u == nil {
		return
	}
	defer clear(u.key)
	if cause == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	if u.key != nil {
		u.checkOwned(ctx)
	}
	if u.unknown {
		// Removing the marker alone would leave this initialisation's
		// keyring, if it is, reading as initialised with no one holding
		// its keys; kept, the next init removes what this one wrote.
		c.logger.Error("initialisation failed and the stored keyring could not be read to tell whose it is: nothing removed, the next init removes what this one wrote",
			"cause", cause.Error())
		return
	}
	if u.key != nil && !u.owned || errors.Is(cause, seal.ErrAlreadyInitialized) {
		_ = u.p.Delete(ctx, barrier.InitPendingPath)
		c.logger.Warn("initialisation failed; the storage held no keyring of this initialisation (another server may have initialised it): nothing else removed", "cause", cause.Error())
		return
	}
	n, err := u.removeNew(ctx)
	if err != nil {
		c.logger.Error("initialisation failed and what it wrote could not all be removed; the next init removes the rest",
			"cause", cause.Error(), "error", err.Error())
		return
	}
	c.logger.Warn("initialisation failed; what it wrote was removed, so init can be run again", "cause", cause.Error(), "keys_removed", n)
}

// removeNew deletes every key not in u.before: the keyring first (its
// absence makes the store uninitialised), the init marker last (its
// presence makes the next init finish the removal). It returns how many
// keys it removed.
func (u *initUndo) removeNew(ctx context.Context) (int, error) {
	keys, err := logical.CollectKeys(ctx, u.p, "")
	if err != nil {
		return 0, err
	}
	keys = slices.DeleteFunc(keys, func(k string) bool { return u.before[k] })
	rank := func(k string) int {
		switch k {
		case barrier.KeyringPath:
			return -1
		case barrier.InitPendingPath:
			return 1
		}
		return 0
	}
	slices.SortFunc(keys, func(a, b string) int {
		if r := rank(a) - rank(b); r != 0 {
			return r
		}
		return strings.Compare(a, b)
	})
	for i, k := range keys {
		if err := u.p.Delete(ctx, k); err != nil {
			return i, err
		}
	}
	return len(keys), nil
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
