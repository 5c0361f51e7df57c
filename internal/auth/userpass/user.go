package userpass

import (
	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/tokenutil"
)

// userEntry is one stored user. PasswordHash is a bcrypt hash; it is never
// returned by any route. The token settings are tokenutil's, stored under
// the same keys as before they moved there.
type userEntry struct {
	PasswordHash string `json:"password_hash"`
	tokenutil.Params
}

// policyFields are the fields of the policies route: token_policies, with
// its older name "policies".
func policyFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{"token_policies": tokenutil.Fields()["token_policies"]}
}

// describe is the read view of u: everything but the password hash.
func (u *userEntry) describe() map[string]any {
	m := map[string]any{}
	u.Params.Describe(m)
	return m
}
