package seal

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/roottoken"
)

// RootGenStatus is the progress of a root token generation, as
// sys/generate-root/attempt reports it. OTP is set only in the answer to
// the start that generated it; EncodedToken only in the answer to the
// share that completed the generation.
type RootGenStatus struct {
	Started      bool
	Nonce        string
	Progress     int
	Required     int
	Complete     bool
	EncodedToken string
	OTP          string
	OTPLength    int
}

// IssueRoot mints a root token once a quorum has been proven. undo revokes
// it again, for when it cannot be handed out after all.
type IssueRoot func(ctx context.Context) (token string, undo func(), err error)

// rootGenState is a root generation in progress.
type rootGenState struct {
	nonce    string
	otp      string
	progress [][]byte
}

// GenerateRootStatus reports the root generation in progress, if any. It
// needs the server unsealed (logical.ErrSealed otherwise).
func (m *Manager) GenerateRootStatus(ctx context.Context) (RootGenStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cfg, err := m.unsealedConfig(ctx)
	if err != nil {
		return RootGenStatus{}, err
	}
	return m.rootGenStatus(cfg), nil
}

func (m *Manager) rootGenStatus(cfg *Config) RootGenStatus {
	st := RootGenStatus{Required: cfg.SecretThreshold, OTPLength: roottoken.OTPLength}
	if g := m.rootGen; g != nil {
		st.Started, st.Nonce, st.Progress = true, g.nonce, len(g.progress)
	}
	return st
}

// GenerateRootInit starts a root generation whose token will be encoded
// with otp. An empty otp makes the server generate one, returned in the
// status (and nowhere else, ever again). Errors: logical.ErrSealed,
// ErrStaticRootGen, ErrOTPLength, ErrRootGenInProgress.
func (m *Manager) GenerateRootInit(ctx context.Context, otp string) (RootGenStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cfg, err := m.unsealedConfig(ctx)
	if err != nil {
		return RootGenStatus{}, err
	}
	switch {
	case cfg.Type != TypeShamir:
		return RootGenStatus{}, ErrStaticRootGen
	case otp != "" && len(otp) != roottoken.OTPLength:
		return RootGenStatus{}, ErrOTPLength
	case m.rootGen != nil:
		return RootGenStatus{}, ErrRootGenInProgress
	}
	generated := otp == ""
	if generated {
		if otp, err = roottoken.GenerateOTP(roottoken.OTPLength); err != nil {
			return RootGenStatus{}, fmt.Errorf("generate OTP: %w", err)
		}
	}
	m.rootGen = &rootGenState{nonce: uuid.NewString(), otp: otp}
	st := m.rootGenStatus(cfg)
	if generated {
		st.OTP = otp
	}
	return st, nil
}

// GenerateRootUpdate adds one unseal key share to the root generation
// whose nonce is given. Once the threshold is reached and the shares form
// the unseal key, it calls issue for a new root token, ends the generation
// and returns the token encoded with the OTP in a complete status.
//
// Errors: logical.ErrSealed; ErrNoRootGen; a 400 naming the right nonce;
// ErrInvalidShare and ErrDuplicateShareGiven (not counted); ErrRootGenKey
// (progress reset, the generation goes on); issue's error.
func (m *Manager) GenerateRootUpdate(ctx context.Context, share []byte, nonce string, issue IssueRoot) (RootGenStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cfg, err := m.unsealedConfig(ctx)
	if err != nil {
		return RootGenStatus{}, err
	}
	g := m.rootGen
	switch {
	case g == nil:
		return RootGenStatus{}, ErrNoRootGen
	case nonce != g.nonce:
		return RootGenStatus{}, incorrectNonce("root generation", g.nonce)
	}
	if g.progress, err = collect(g.progress, share, cfg.SecretThreshold); err != nil {
		return RootGenStatus{}, err
	}
	st := m.rootGenStatus(cfg)
	if st.Progress < cfg.SecretThreshold {
		return st, nil
	}
	key, err := combineAndWipe(&g.progress)
	if err != nil {
		return RootGenStatus{}, ErrRootGenKey
	}
	defer clear(key)
	if err := m.b.CheckUnsealKey(key); err != nil {
		return RootGenStatus{}, ErrRootGenKey
	}
	token, undo, err := issue(ctx)
	if err != nil {
		return RootGenStatus{}, err
	}
	enc, err := roottoken.Encode(token, g.otp)
	if err != nil {
		undo()
		return RootGenStatus{}, fmt.Errorf("encode root token: %w", err)
	}
	m.endRootGen()
	st.Complete, st.EncodedToken = true, enc
	return st, nil
}

// GenerateRootCancel ends the root generation in progress, if any. It
// needs the server unsealed.
func (m *Manager) GenerateRootCancel(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.b.Sealed() {
		return logical.ErrSealed
	}
	m.endRootGen()
	return nil
}

// endRootGen drops the root generation in progress, wiping its shares.
func (m *Manager) endRootGen() {
	if g := m.rootGen; g != nil {
		wipeAll(g.progress)
		m.rootGen = nil
	}
}
