// Package userpass is the username-and-password auth method, speaking
// Vault's userpass API: operators manage users under users/<name>, and a
// person logs in at login/<name> with a password to receive a token carrying
// the user's policies and token settings.
//
// Passwords are kept only as bcrypt hashes in the mount's storage view and
// never leave the package: not in responses, errors or logs. A failed login
// looks and takes the same whether the user is unknown or the password is
// wrong, so the method does not reveal which users exist.
//
// It is not where tokens are made or renewed: a login returns a
// logical.Auth without a token, and the core's token store issues, renews
// and revokes it. Nor does it check policies on its own routes; the core
// does that before a request arrives.
package userpass
