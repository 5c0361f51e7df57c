package seal

import (
	"errors"
	"fmt"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/roottoken"
)

// userErr makes a sentinel that is also a 400-class logical error, so the
// HTTP layer maps it without knowing this package.
func userErr(msg string) error {
	return &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: msg}
}

// Errors from Split and Combine. All are caused by the caller's input and
// wrap logical.ErrInvalidRequest.
var (
	// ErrParts means the share count or threshold is out of range.
	ErrParts = userErr("secret_shares and secret_threshold must satisfy 2 <= secret_threshold <= secret_shares <= 255, or both be 1")
	// ErrEmptySecret means Split was given nothing to split.
	ErrEmptySecret = userErr("cannot split an empty secret")
	// ErrNoShares means Combine was given no shares.
	ErrNoShares = userErr("no unseal key shares were given")
	// ErrShareLength means shares differ in length or are too short to
	// hold a value and an index.
	ErrShareLength = userErr("unseal key shares must all have the same length, of at least 2 bytes")
	// ErrDuplicateShare means two shares carry the same index.
	ErrDuplicateShare = userErr("two unseal key shares have the same index; each share must be given once")
	// ErrShareIndex means a share carries index 0, which Split never uses.
	ErrShareIndex = userErr("unseal key share is malformed (index 0)")
)

// Errors from the Manager.
var (
	// ErrAlreadyInitialized is returned by Init when the barrier has a
	// keyring already.
	ErrAlreadyInitialized = userErr("Vault is already initialized")
	// ErrNotInitialized is returned by Unseal before Init; it wraps
	// logical.ErrNotInitialized.
	ErrNotInitialized error = &logical.UserError{Kind: logical.ErrNotInitialized, Msg: "Vault is not initialized"}
	// ErrInvalidKey means the shares given combined into a key that does not
	// unseal the barrier. Progress has been reset; start again with correct
	// shares.
	ErrInvalidKey = userErr("the unseal key shares given do not form the unseal key for this server; progress has been reset, submit the correct shares again")
	// ErrInvalidShare means a share is malformed (wrong length or not
	// decodable) and was not counted.
	ErrInvalidShare = userErr("unseal key share is malformed: it must be one of the keys returned by init, in hex or base64")
	// ErrStaticKeyLength means a static seal key is not 32 bytes.
	ErrStaticKeyLength = userErr("the static seal key must be exactly 32 bytes")
	// ErrWrongSealType means the stored seal configuration is for another
	// kind of seal than the operation needs (for example shares given to a
	// server that unseals with a static key).
	ErrWrongSealType = userErr("this operation does not match the server's seal type")
	// ErrNoSealConfig means a keyring exists but the seal configuration
	// does not: storage is damaged or was partly restored.
	ErrNoSealConfig = errors.New("barrier is initialized but the seal configuration is missing")
)

// Errors from rekey and root generation. All but ErrSealed's wrappers are
// 400-class. Messages name the next step; none quotes a share.
var (
	// ErrStaticRekey means a rekey was asked of a server that unseals with
	// a static key: it has no shares to change.
	ErrStaticRekey = userErr("this server unseals with a static key file and has no key shares to rekey")
	// ErrStaticRootGen means root generation was asked of a static-seal
	// server, which has no shares to prove a quorum with.
	ErrStaticRootGen = userErr("root token generation needs unseal key shares, and this server unseals with a static key file")
	// ErrRekeyInProgress means a rekey has already been started.
	ErrRekeyInProgress = userErr("a rekey is already in progress; cancel it (DELETE sys/rekey/init) before starting another")
	// ErrNoRekey means a share was given while no rekey is in progress.
	ErrNoRekey = userErr("no rekey is in progress; start one with PUT sys/rekey/init")
	// ErrNoRekeyConfig means the verification status was asked for while
	// no rekey is in progress.
	ErrNoRekeyConfig = userErr("no rekey configuration found: no rekey is in progress")
	// ErrNoVerification means a verification share was given while the
	// rekey in progress does not (yet) await verification.
	ErrNoVerification = userErr("no rekey verification is in progress")
	// ErrRekeyKey means the current shares given for a rekey do not form
	// the unseal key. Progress has been reset.
	ErrRekeyKey = userErr("the key shares given do not form this server's unseal key; rekey progress has been reset, submit the correct shares again")
	// ErrVerifyKey means the new shares given for verification do not
	// form the new key. Progress has been reset and the verification nonce
	// changed.
	ErrVerifyKey = userErr("rekey verification failed: the key shares given do not form the new unseal key; verification progress has been reset and a new verification nonce issued (GET sys/rekey/verify)")
	// ErrDuplicateShareGiven means the same share was given twice in one
	// operation.
	ErrDuplicateShareGiven = userErr("this key share has already been given in this operation; give a different one")
	// ErrRootGenInProgress means a root generation has already been started.
	ErrRootGenInProgress = userErr("root generation is already in progress; cancel it (DELETE sys/generate-root/attempt) before starting another")
	// ErrNoRootGen means a share was given while no root generation is in
	// progress.
	ErrNoRootGen = userErr("no root generation is in progress; start one with PUT sys/generate-root/attempt")
	// ErrRootGenKey means the shares given for root generation do not form
	// the unseal key. Progress has been reset.
	ErrRootGenKey = userErr("root generation aborted: the key shares given do not form this server's unseal key; progress has been reset, submit the correct shares again")
	// ErrOTPLength means a client-supplied OTP has the wrong length.
	ErrOTPLength = userErr(fmt.Sprintf("the otp must be exactly %d characters, the length of a root token; omit it to have the server generate one", roottoken.OTPLength))
)
