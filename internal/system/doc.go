// Package system is the sys/ backend: mounts, auth methods, policies,
// capabilities, key rotation, rate-limit quotas, seal, and the endpoints Vault clients call
// before they can authenticate (init, unseal, seal-status, health, leader).
//
// It only declares routes and shapes responses. The state it exposes belongs
// to the core, reached through the small interfaces in this package, so the
// core stays orchestration and this package stays free of storage details.
package system
