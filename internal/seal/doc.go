// Package seal decides how the barrier's unseal key comes into being and
// back into memory: Shamir secret sharing of a random key among operators
// (the default), or a static key read from a file (auto-unseal). Its Manager
// owns initialisation, the seal configuration and the progress of an unseal
// that collects shares one request at a time.
//
// It is not the encryption layer (that is barrier) and it does not parse HTTP
// or encode shares for output; httpapi does, using DecodeShare for input.
// Shares and keys it holds are wiped as soon as they are no longer needed;
// none is ever logged or put in an error message.
package seal
