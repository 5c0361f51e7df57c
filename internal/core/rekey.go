package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/cofferhq/coffer/internal/seal"
)

// The rekey and root generation methods of the sys/ adapter. The seal
// manager runs both; the core adds the root token, and the logs, which
// name operations by nonce and tokens by accessor, never a share, an OTP
// or a token.

func (a sysAdapter) RekeyStatus(ctx context.Context) (seal.RekeyStatus, error) {
	return a.c.seal.RekeyStatus(ctx)
}

func (a sysAdapter) RekeyInit(ctx context.Context, shares, threshold int, verify bool) (seal.RekeyStatus, error) {
	st, err := a.c.seal.RekeyInit(ctx, shares, threshold, verify)
	if err == nil {
		a.c.logger.Info("rekey started", "nonce", st.Nonce, "shares", shares, "threshold", threshold, "verification_required", verify)
	}
	return st, err
}

func (a sysAdapter) RekeyUpdate(ctx context.Context, share []byte, nonce string) (*seal.RekeyResult, error) {
	res, err := a.c.seal.RekeyUpdate(ctx, share, nonce)
	switch {
	case err != nil || res == nil:
	case res.VerificationRequired:
		a.c.logger.Info("rekey: new key shares issued, awaiting verification", "nonce", nonce)
	default:
		a.c.logger.Info("rekey complete: the new key shares are in force", "nonce", nonce)
	}
	return res, err
}

func (a sysAdapter) RekeyCancel(ctx context.Context) error { return a.c.seal.RekeyCancel(ctx) }

func (a sysAdapter) RekeyVerifyStatus(ctx context.Context) (seal.RekeyVerifyStatus, error) {
	return a.c.seal.RekeyVerifyStatus(ctx)
}

func (a sysAdapter) RekeyVerify(ctx context.Context, share []byte, nonce string) (bool, string, error) {
	done, n, err := a.c.seal.RekeyVerify(ctx, share, nonce)
	if done {
		a.c.logger.Info("rekey verified and complete: the new key shares are in force", "nonce", n)
	}
	return done, n, err
}

func (a sysAdapter) RekeyVerifyRestart(ctx context.Context) (seal.RekeyVerifyStatus, error) {
	return a.c.seal.RekeyVerifyRestart(ctx)
}

func (a sysAdapter) GenerateRootStatus(ctx context.Context) (seal.RootGenStatus, error) {
	return a.c.seal.GenerateRootStatus(ctx)
}

func (a sysAdapter) GenerateRootInit(ctx context.Context, otp string) (seal.RootGenStatus, error) {
	st, err := a.c.seal.GenerateRootInit(ctx, otp)
	if err == nil {
		a.c.logger.Info("root generation started", "nonce", st.Nonce)
	}
	return st, err
}

func (a sysAdapter) GenerateRootUpdate(ctx context.Context, share []byte, nonce string) (seal.RootGenStatus, error) {
	return a.c.seal.GenerateRootUpdate(ctx, share, nonce, a.issueRoot)
}

func (a sysAdapter) GenerateRootCancel(ctx context.Context) error {
	return a.c.seal.GenerateRootCancel(ctx)
}

// issueRoot mints a root token through the token store, as init does: a
// real token, with its accessor, revocable like any other.
func (a sysAdapter) issueRoot(ctx context.Context) (string, func(), error) {
	st, err := a.active()
	if err != nil {
		return "", nil, err
	}
	id, err := st.tokens.CreateRoot(ctx, "")
	if err != nil {
		return "", nil, fmt.Errorf("create root token: %w", err)
	}
	te, err := st.tokens.Lookup(ctx, id)
	if err == nil && te == nil {
		err = errors.New("not found")
	}
	if err != nil {
		// Never handed out, the token is as good as gone: nobody can
		// guess its 24 random characters.
		return "", nil, fmt.Errorf("look up the new root token: %w", err)
	}
	a.c.logger.Warn("root token generated from unseal key shares", "accessor", te.Accessor)
	undo := func() {
		if err := st.tokens.Revoke(context.WithoutCancel(ctx), te.Hash); err != nil {
			a.c.logger.Error("revoke a root token that could not be handed out", "accessor", te.Accessor, "error", err.Error())
		}
	}
	return id, undo, nil
}
