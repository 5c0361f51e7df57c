package core

import (
	"context"
	"fmt"

	"github.com/cofferhq/coffer/internal/system"
)

// DevInit initialises an empty store with a single unseal key share,
// unseals it, and mounts a KV v2 engine at secret/, as "server -dev" does.
// rootID chooses the root token (random when empty). It returns the unseal
// key share and the root token.
func (c *Core) DevInit(ctx context.Context, rootID string) (share []byte, root string, err error) {
	res, err := c.initialize(ctx, 1, 1, rootID)
	if err != nil {
		return nil, "", err
	}
	if _, err := c.Unseal(ctx, res.Keys[0], false); err != nil {
		return nil, "", fmt.Errorf("dev unseal: %w", err)
	}
	st := c.state.Load()
	if st == nil {
		return nil, "", fmt.Errorf("dev unseal left the server sealed")
	}
	err = st.mounts.Enable(ctx, system.SecretsTable, system.MountInfo{
		Path: "secret/", Type: "kv", Description: "key/value secret storage", Options: map[string]string{"version": "2"},
	})
	if err != nil {
		return nil, "", fmt.Errorf("mount secret/: %w", err)
	}
	return res.Keys[0], res.RootToken, nil
}

// AutoUnseal unseals with the static key from Config.StaticKey when the
// store is initialised; a new store waits for sys/init. It reports whether
// it unsealed.
func (c *Core) AutoUnseal(ctx context.Context) (bool, error) {
	ok, err := c.autoUnseal(ctx)
	if ok && err == nil {
		c.waitSettled(ctx)
	}
	return ok, err
}

func (c *Core) autoUnseal(ctx context.Context) (bool, error) {
	if c.conf.StaticKey == nil {
		return false, nil
	}
	c.lifecycle.Lock()
	defer c.lifecycle.Unlock()
	inited, err := c.seal.Initialized(ctx)
	if err != nil || !inited {
		return false, err
	}
	if err := c.seal.AutoUnseal(ctx, c.conf.StaticKey); err != nil {
		return false, err
	}
	return true, c.afterUnseal(ctx)
}

// initializeStatic initialises a store whose unseal key is the static key:
// no shares are returned, and the server unseals straight away.
func (c *Core) initializeStatic(ctx context.Context) (system.InitResult, error) {
	c.lifecycle.Lock()
	defer c.lifecycle.Unlock()
	unlock, err := c.lockInit(ctx)
	if err != nil {
		return system.InitResult{}, err
	}
	defer unlock()
	root, err := c.bootstrapStatic(ctx)
	if err != nil {
		return system.InitResult{}, err
	}
	// Initialised: a failure from here on is one of unsealing, which a
	// restart retries with the same static key, so nothing is undone.
	if err := c.seal.AutoUnseal(ctx, c.conf.StaticKey); err != nil {
		return system.InitResult{}, err
	}
	return system.InitResult{RootToken: root}, c.afterUnseal(ctx)
}

// bootstrapStatic writes a new store's keys under the static key and its
// first records, removing them again if any step fails.
func (c *Core) bootstrapStatic(ctx context.Context) (_ string, err error) {
	u, err := c.recordInit(ctx)
	if err != nil {
		return "", err
	}
	defer func() { u.undo(ctx, c, err) }()
	if err := c.seal.InitWithKey(ctx, c.conf.StaticKey); err != nil {
		return "", err
	}
	u.keyringStored(c.conf.StaticKey)
	if err := c.barrier.Unseal(ctx, c.conf.StaticKey); err != nil {
		return "", fmt.Errorf("first unseal: %w", err)
	}
	defer c.barrier.Seal()
	defer func() {
		if err != nil {
			u.checkOwned(ctx) // before Seal stores the keyring again
		}
	}()
	root, err := c.bootstrap(ctx, "")
	if err != nil {
		return "", err
	}
	return root, u.done(ctx)
}
