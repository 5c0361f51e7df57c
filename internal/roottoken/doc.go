// Package roottoken makes and reads the one-time-password (OTP) encoding in
// which a root token generated from unseal key shares travels back to the
// operator, exactly as Vault and OpenBao encode it: the token's bytes XORed
// with an OTP of the same length, then base64 without padding
// (base64.RawStdEncoding). `vault operator generate-root -decode=… -otp=…`,
// `bao operator generate-root -decode=…` and `coffer operator generate-root
// -decode=…` all undo it.
//
// The legacy variant (a base64 OTP of 16 random bytes and a UUID token) is
// not produced: Coffer's root tokens are never UUIDs.
//
// It is not where root tokens are minted (the token store does that) and it
// never logs or keeps what it is given.
package roottoken
