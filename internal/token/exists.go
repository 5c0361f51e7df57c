package token

import "context"

// Exists reports whether a token is stored under hash, live or not: a
// token being revoked or expired still exists until its revocation
// finishes (and Config.OnRevoke reports it). The lease manager's tidy asks
// it to find leases whose token vanished without that report.
func (s *Store) Exists(ctx context.Context, hash string) (bool, error) {
	e, err := s.get(ctx, hash)
	return e != nil, err
}
