// Package loginlimit slows down guessing at an auth method's login: it
// counts failed logins per (role, client address) in one mount and, once a
// pair has failed more than a burst, refuses its further attempts with a 429
// and Retry-After until the count has drained, at a steady rate, far enough
// to allow one more. Good logins pay one map lookup and are never delayed;
// the count never blocks another address or another role.
//
// One Limiter belongs to one mounted backend (the jwt, kubernetes and
// approle methods each build one in their factory), so the mount is part
// of the key by construction. The client address is logical.Request's
// RemoteAddr, which is already the forwarded client when the listener
// trusts the proxy in front of it.
//
// It is not Vault's user lockout (internal/lockout), which locks a user
// name or role ID out after failed attempts from anywhere and persists the
// lock; this limiter is in memory only, forgets on restart, and never
// locks anyone out for longer than its drain takes.
package loginlimit
