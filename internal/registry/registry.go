// Package registry is the one explicit map from engine and auth method type
// names to their factories. Adding an engine or auth method to Coffer is one
// package under internal/engine or internal/auth plus one line here; there
// are no init() side effects anywhere.
//
// It is not where mounts are created or configured; the core does that.
package registry

import (
	"github.com/cofferhq/coffer/internal/auth/approle"
	"github.com/cofferhq/coffer/internal/auth/jwt"
	"github.com/cofferhq/coffer/internal/auth/kubernetes"
	"github.com/cofferhq/coffer/internal/auth/userpass"
	"github.com/cofferhq/coffer/internal/engine/database"
	"github.com/cofferhq/coffer/internal/engine/kv"
	"github.com/cofferhq/coffer/internal/logical"
)

// Engines returns a fresh map of secrets engine type names to factories.
func Engines() map[string]logical.Factory {
	return map[string]logical.Factory{
		"kv":       kv.Factory,
		"database": database.Factory,
	}
}

// AuthMethods returns a fresh map of auth method type names to factories.
// The token method is built into the core and is not listed.
func AuthMethods() map[string]logical.Factory {
	return map[string]logical.Factory{
		"approle":    approle.Factory,
		"jwt":        jwt.Factory,
		"oidc":       jwt.Factory, // Vault's other name for the same method
		"kubernetes": kubernetes.Factory,
		"userpass":   userpass.Factory,
	}
}
