// Package agent is `coffer agent`: it logs in to a Coffer server with the
// workload's own identity (auto-auth), keeps that token alive, renders Go
// templates of secrets to files, keeps the leases behind them alive,
// renders again when a credential is about to end, a KV version changes or
// a static role rotates, and then runs a command or restarts a supervised
// child. Optionally it serves a local API proxy that attaches the
// auto-auth token and caches leased responses.
//
// It is for: delivering secrets into files (or an init container's
// volume) and to one child process, with Vault Agent's configuration and
// template vocabulary so that existing setups carry over.
//
// It is not for: parsing configuration (internal/config does, into a
// *config.Agent), or anything on the server side. It talks to the server
// only through the published OpenBao API client and its HTTP transport.
//
// Secrets never appear in its logs or errors: messages name paths,
// destinations and lease IDs, never a token, a credential or rendered
// content.
package agent
