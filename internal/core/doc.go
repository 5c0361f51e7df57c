// Package core is the orchestration at the centre of the server: for every
// request it authenticates the token, authorises the operation against the
// token's policies, hands the request to the mount that serves the path, and
// turns logins into tokens. It also owns the server's life cycle: init,
// unseal (loading mounts, policies and the token store) and seal (dropping
// all of it).
//
// It is not where storage encryption, policy evaluation, routing tables,
// HTTP or any engine's logic live; each has its own package, and core only
// wires them together.
package core
