// Package roles holds what the role-based auth methods (kubernetes, jwt,
// approle) share about their roles: the role routes (LIST role/ and read,
// create, update, delete of role/<name>, with Vault's answers and the
// refusal of a respelt name), and a store that keeps roles as JSON entries
// in the mount's storage with a read cache for logins.
//
// It is not for what a role means: each method declares its own fields,
// checks its own rules and decides what a login gets. The token settings
// every role carries are tokenutil's.
package roles
