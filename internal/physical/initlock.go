package physical

import "context"

// InitLocker is storage that several servers may share at once
// (PostgreSQL): LockInit holds a lock across them until unlock is called,
// so that two servers told to initialise the same storage do it one after
// the other and the second finds it initialised, instead of each storing
// its keyring over the other's.
type InitLocker interface {
	LockInit(ctx context.Context) (unlock func(), err error)
}

// FindInitLocker returns the InitLocker under p's wrappers (those with an
// Unwrap method), or nil.
func FindInitLocker(p Backend) InitLocker {
	for p != nil {
		if l, ok := p.(InitLocker); ok {
			return l
		}
		u, ok := p.(interface{ Unwrap() Backend })
		if !ok {
			return nil
		}
		p = u.Unwrap()
	}
	return nil
}
