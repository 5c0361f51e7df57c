package logical

import "context"

// StorageUpgrader is implemented by a backend that must convert what a
// mount stored under other options before it can serve it, such as KV
// version 1 data when a tune asks for version 2.
//
// UpgradeOps reads s, the mount's storage as the previous options left it,
// and returns the writes (keys relative to s) that convert it; it writes
// nothing itself. The core applies them in one transaction with the mount
// table, while no request reaches the mount, so the change happens whole
// or not at all. previous are the options the data was written under. An
// error refuses the change: a user error (ErrInvalidRequest) says what to
// fix first.
type StorageUpgrader interface {
	UpgradeOps(ctx context.Context, s Storage, previous map[string]string) ([]TxnOp, error)
}
