// Package kv is the key/value secrets engine in both of Vault's flavours:
// version 1 (one unversioned value per path) and version 2 (versioned
// values with metadata, check-and-set, soft delete, undelete and destroy),
// speaking the same request and response shapes as Vault's kv engine so that
// existing clients work unchanged.
//
// The engine sees only its mount's storage view; encryption happens beneath
// it in the barrier. It is not the place for authorisation (the core checks
// policies before a request arrives) nor for HTTP concerns (status codes
// come from the errors and Response.Status it returns).
package kv
