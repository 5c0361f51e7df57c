package seal

import (
	"bytes"
	"context"
	"crypto/subtle"
	"fmt"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical"
)

// RekeyStatus is the progress of a rekey, as sys/rekey/init reports it. T
// and N are the new threshold and share count; Required is the current
// threshold, the number of current shares Progress counts towards.
type RekeyStatus struct {
	Started              bool
	Nonce                string
	T, N                 int
	Progress             int
	Required             int
	VerificationRequired bool
	VerificationNonce    string
}

// RekeyResult is what the last current share of a rekey returns: the new
// shares, handed out only here. With verification required they are not
// in force until the verification completes; VerificationNonce names that
// step.
type RekeyResult struct {
	Shares               [][]byte
	VerificationRequired bool
	VerificationNonce    string
}

// RekeyVerifyStatus is the progress of the verification of a rekey, as
// sys/rekey/verify reports it. Started is true once the new shares have
// been issued; Progress counts new shares towards T.
type RekeyVerifyStatus struct {
	Started  bool
	Nonce    string
	T, N     int
	Progress int
}

// rekeyState is a rekey in progress. newKey is set, and progress spent,
// once the current shares have been collected and verification is
// required; it is in force only after verification.
type rekeyState struct {
	nonce             string
	shares, threshold int
	verify            bool
	progress          [][]byte
	newKey            []byte
	verifyNonce       string
	verifyProgress    [][]byte
}

// unsealedConfig returns the seal configuration of an unsealed server, or
// logical.ErrSealed.
func (m *Manager) unsealedConfig(ctx context.Context) (*Config, error) {
	if m.b.Sealed() {
		return nil, logical.ErrSealed
	}
	return m.config(ctx)
}

// RekeyStatus reports the rekey in progress, if any. It needs the server
// unsealed (logical.ErrSealed otherwise).
func (m *Manager) RekeyStatus(ctx context.Context) (RekeyStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cfg, err := m.unsealedConfig(ctx)
	if err != nil {
		return RekeyStatus{}, err
	}
	return m.rekeyStatus(cfg), nil
}

func (m *Manager) rekeyStatus(cfg *Config) RekeyStatus {
	st := RekeyStatus{Required: cfg.SecretThreshold}
	if r := m.rekey; r != nil {
		st.Started, st.Nonce, st.T, st.N = true, r.nonce, r.threshold, r.shares
		st.Progress, st.VerificationRequired, st.VerificationNonce = len(r.progress), r.verify, r.verifyNonce
	}
	return st
}

// RekeyInit starts a rekey to shares new shares, threshold of which will
// unseal, and returns its status with a fresh nonce. With verify the new
// shares take effect only once a threshold of them has been given back
// through RekeyVerify. Errors: logical.ErrSealed, ErrStaticRekey, ErrParts,
// ErrRekeyInProgress.
func (m *Manager) RekeyInit(ctx context.Context, shares, threshold int, verify bool) (RekeyStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cfg, err := m.unsealedConfig(ctx)
	if err != nil {
		return RekeyStatus{}, err
	}
	switch {
	case cfg.Type != TypeShamir:
		return RekeyStatus{}, ErrStaticRekey
	case !validParts(shares, threshold):
		return RekeyStatus{}, ErrParts
	case m.rekey != nil:
		return RekeyStatus{}, ErrRekeyInProgress
	}
	m.rekey = &rekeyState{nonce: uuid.NewString(), shares: shares, threshold: threshold, verify: verify}
	return m.rekeyStatus(cfg), nil
}

// RekeyUpdate adds one current share to the rekey whose nonce is given.
// Until the current threshold is reached it returns a nil result. Then it
// checks the combined key against the unseal key and either rekeys at once
// (the old shares stop working, the result holds the new ones) or, when
// verification is required, returns the new shares and a verification
// nonce while the old shares stay in force.
//
// Errors: logical.ErrSealed; ErrNoRekey; a 400 naming the right nonce, or
// saying verification is due; ErrInvalidShare and ErrDuplicateShareGiven
// (not counted); ErrRekeyKey (progress reset). An error storing the new
// key leaves the old one in force.
func (m *Manager) RekeyUpdate(ctx context.Context, share []byte, nonce string) (*RekeyResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cfg, err := m.unsealedConfig(ctx)
	if err != nil {
		return nil, err
	}
	r := m.rekey
	switch {
	case r == nil:
		return nil, ErrNoRekey
	case r.newKey != nil:
		return nil, logical.InvalidRequest("the new key shares have been issued and must now be verified: give them to sys/rekey/verify with the verification nonce %q", r.verifyNonce)
	case nonce != r.nonce:
		return nil, incorrectNonce("rekey", r.nonce)
	}
	if r.progress, err = collect(r.progress, share, cfg.SecretThreshold); err != nil {
		return nil, err
	}
	if len(r.progress) < cfg.SecretThreshold {
		return nil, nil
	}
	key, err := combineAndWipe(&r.progress)
	if err != nil {
		return nil, ErrRekeyKey
	}
	defer clear(key)
	if err := m.b.CheckUnsealKey(key); err != nil {
		return nil, ErrRekeyKey
	}
	newKey, shares, err := newSplitKey(r.shares, r.threshold)
	if err != nil {
		return nil, err
	}
	if r.verify {
		r.newKey, r.verifyNonce = newKey, uuid.NewString()
		return &RekeyResult{Shares: shares, VerificationRequired: true, VerificationNonce: r.verifyNonce}, nil
	}
	defer clear(newKey)
	if err := m.applyRekey(ctx, newKey, r); err != nil {
		wipeAll(shares)
		return nil, err
	}
	return &RekeyResult{Shares: shares}, nil
}

// applyRekey puts newKey in force: the barrier stores its keyring under
// newKey and the seal configuration for r's shares and threshold in one
// transaction, so storage holds either the old pair or the new, never a
// mix (see barrier.Rekey). On success the rekey ends.
func (m *Manager) applyRekey(ctx context.Context, newKey []byte, r *rekeyState) error {
	e, err := configEntry(Config{Type: TypeShamir, SecretShares: r.shares, SecretThreshold: r.threshold})
	if err != nil {
		return err
	}
	if err := m.b.Rekey(ctx, newKey, physical.TxnOp{Entry: e}); err != nil {
		return fmt.Errorf("rekey: %w", err)
	}
	m.endRekey()
	return nil
}

// RekeyCancel ends the rekey in progress, if any, discarding its progress
// and any new key awaiting verification. It needs the server unsealed.
func (m *Manager) RekeyCancel(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.b.Sealed() {
		return logical.ErrSealed
	}
	m.endRekey()
	return nil
}

// RekeyVerifyStatus reports the verification of the rekey in progress.
// Errors: logical.ErrSealed, ErrNoRekeyConfig.
func (m *Manager) RekeyVerifyStatus(ctx context.Context) (RekeyVerifyStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.unsealedConfig(ctx); err != nil {
		return RekeyVerifyStatus{}, err
	}
	return m.verifyStatus()
}

func (m *Manager) verifyStatus() (RekeyVerifyStatus, error) {
	r := m.rekey
	if r == nil {
		return RekeyVerifyStatus{}, ErrNoRekeyConfig
	}
	return RekeyVerifyStatus{Started: r.newKey != nil, Nonce: r.verifyNonce, T: r.threshold, N: r.shares, Progress: len(r.verifyProgress)}, nil
}

// RekeyVerify adds one of the new shares to the verification whose nonce
// is given. It returns false until the new threshold is reached; then, if
// the new shares form the new key, the rekey takes effect and it returns
// true with the verification nonce. Otherwise progress is reset, a new
// verification nonce issued, and ErrVerifyKey returned.
//
// Errors besides those: logical.ErrSealed, ErrNoRekey, ErrNoVerification,
// a 400 naming the right nonce, ErrInvalidShare, ErrDuplicateShareGiven.
func (m *Manager) RekeyVerify(ctx context.Context, share []byte, nonce string) (bool, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.unsealedConfig(ctx); err != nil {
		return false, "", err
	}
	r := m.rekey
	switch {
	case r == nil:
		return false, "", ErrNoRekey
	case r.newKey == nil:
		return false, "", ErrNoVerification
	case nonce != r.verifyNonce:
		return false, "", incorrectNonce("verify", r.verifyNonce)
	}
	var err error
	if r.verifyProgress, err = collect(r.verifyProgress, share, r.threshold); err != nil {
		return false, "", err
	}
	if len(r.verifyProgress) < r.threshold {
		return false, r.verifyNonce, nil
	}
	key, err := combineAndWipe(&r.verifyProgress)
	if err == nil {
		defer clear(key)
	}
	if err != nil || subtle.ConstantTimeCompare(key, r.newKey) != 1 {
		r.verifyNonce = uuid.NewString()
		return false, "", ErrVerifyKey
	}
	done := r.verifyNonce
	if err := m.applyRekey(ctx, r.newKey, r); err != nil {
		return false, "", err
	}
	return true, done, nil
}

// RekeyVerifyRestart discards the verification progress and issues a new
// verification nonce; the new shares stay the same. It returns the
// verification status. Errors: logical.ErrSealed, ErrNoRekeyConfig.
func (m *Manager) RekeyVerifyRestart(ctx context.Context) (RekeyVerifyStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.unsealedConfig(ctx); err != nil {
		return RekeyVerifyStatus{}, err
	}
	if r := m.rekey; r != nil && r.newKey != nil {
		wipeAll(r.verifyProgress)
		r.verifyProgress, r.verifyNonce = nil, uuid.NewString()
	}
	return m.verifyStatus()
}

// endRekey drops the rekey in progress, wiping every share and key it holds.
func (m *Manager) endRekey() {
	if r := m.rekey; r != nil {
		wipeAll(r.progress)
		wipeAll(r.verifyProgress)
		clear(r.newKey)
		m.rekey = nil
	}
}

// collect adds a copy of share to progress for an operation that needs
// threshold shares. A share of the wrong length is ErrInvalidShare, one
// already given ErrDuplicateShareGiven; neither is counted.
func collect(progress [][]byte, share []byte, threshold int) ([][]byte, error) {
	if len(share) != shareLen(threshold) {
		return progress, ErrInvalidShare
	}
	for _, s := range progress {
		if sharesEqual(s, share) {
			return progress, ErrDuplicateShareGiven
		}
	}
	return append(progress, bytes.Clone(share)), nil
}

// combineAndWipe rebuilds the key from *progress, then wipes and empties it
// whatever the outcome, so each attempt starts afresh.
func combineAndWipe(progress *[][]byte) ([]byte, error) {
	key, err := Combine(*progress)
	wipeAll(*progress)
	*progress = nil
	return key, err
}

// incorrectNonce is the 400 for a nonce that does not name the operation
// in progress. It gives the right one: nonces are no secret, and
// sys/rekey/init and sys/generate-root/attempt show them to anyone.
func incorrectNonce(op, nonce string) error {
	return logical.InvalidRequest("incorrect nonce supplied; the nonce of this %s operation is %q", op, nonce)
}
