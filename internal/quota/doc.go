// Package quota holds Vault-compatible rate-limit quotas: their definitions,
// persisted in a storage view, and the per-client token buckets that enforce
// them. The core asks Manager.Allow before it authenticates a request, as
// Vault does, so that a flood is turned away before it costs a token lookup.
//
// It is not where the sys/quotas routes are declared (package system does
// that), nor where a refusal becomes an HTTP 429 (package httpapi), and it
// knows nothing of mounts: callers hand it paths already checked against the
// mount table.
package quota
