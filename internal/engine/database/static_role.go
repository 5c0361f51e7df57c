package database

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// staticRole is one static role (static-roles/<name>): an existing
// database user whose password Coffer owns and rotates. The record holds
// the password in force and, while a rotation is under way, the one being
// set, so that one storage write before the database is changed keeps
// every password the user may have (see rotateStatic).
type staticRole struct {
	DBName             string        `json:"db_name"`
	Username           string        `json:"username"`
	RotationStatements []string      `json:"rotation_statements,omitempty"`
	RotationPeriod     time.Duration `json:"rotation_period,omitempty"`
	RotationSchedule   string        `json:"rotation_schedule,omitempty"`
	RotationWindow     time.Duration `json:"rotation_window,omitempty"`

	// Password is the password in force; empty until the first rotation
	// of a role created with skip_import_rotation.
	Password string `json:"password,omitempty"`
	// PendingPassword is set while a rotation runs: stored before the
	// database is asked to change, cleared (or made Password) once the
	// outcome is known. A record that still has it after a crash or a
	// failure is settled by settleStatic.
	PendingPassword string `json:"pending_password,omitempty"`
	// LastVaultRotation is when Coffer last set the password (Vault's
	// name); zero before the first rotation.
	LastVaultRotation time.Time `json:"last_vault_rotation"`
	// NextVaultRotation is when the next rotation is due. It is persisted
	// so that a restart keeps the schedule and a rotation missed while
	// the server was down runs soon after it is back.
	NextVaultRotation time.Time `json:"next_vault_rotation"`
}

// secrets are the passwords a message about r must not contain.
func (r *staticRole) secrets() []string { return []string{r.Password, r.PendingPassword} }

func (b *backend) loadStaticRole(ctx context.Context, name string) (*staticRole, error) {
	var r staticRole
	ok, err := logical.GetJSON(ctx, b.storage, staticRolePrefix+name, &r)
	if err != nil || !ok {
		return nil, err
	}
	return &r, nil
}

func (b *backend) saveStaticRole(ctx context.Context, name string, r *staticRole) error {
	// Finish the write even when the caller gave up: the database may
	// already hold what this record says.
	if err := logical.PutJSON(context.WithoutCancel(ctx), b.storage, staticRolePrefix+name, r); err != nil {
		return fmt.Errorf("store static role %q: %w", name, err)
	}
	return nil
}

// staticLockStripes is how many mutexes serialise work on static roles; a
// role's name picks its stripe.
const staticLockStripes = 64

// staticLocks serialises everything that reads and then writes one static
// role's record: writes of its definition, rotations (requested or
// scheduled), deletion and settling an unfinished rotation.
type staticLocks [staticLockStripes]sync.Mutex

// lock locks name's stripe and returns its unlock.
func (l *staticLocks) lock(name string) func() {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	m := &l[h.Sum32()%staticLockStripes]
	m.Lock()
	return m.Unlock
}

// mountShared is what every backend built for one mount shares: a tune of
// the mount's options or a remount builds a new backend before the old one
// is cleaned up, and both schedulers must not rotate one role at once.
type mountShared struct {
	// staticMu serialises the writers of static roles' definitions, so
	// that no two roles take one user. Take it before a role's lock.
	staticMu sync.Mutex
	// locks serialise everything that changes one role's record.
	locks staticLocks
	refs  int
}

// shared holds the mountShared of every mount with a live backend.
var shared = struct {
	sync.Mutex
	m map[string]*mountShared
}{m: map[string]*mountShared{}}

// acquireShared returns the mountShared of the mount with that UUID (a
// private one when the UUID is empty); releaseShared gives it back.
func acquireShared(uuid string) *mountShared {
	if uuid == "" {
		return &mountShared{}
	}
	shared.Lock()
	defer shared.Unlock()
	s := shared.m[uuid]
	if s == nil {
		s = &mountShared{}
		shared.m[uuid] = s
	}
	s.refs++
	return s
}

func releaseShared(uuid string) {
	if uuid == "" {
		return
	}
	shared.Lock()
	defer shared.Unlock()
	if s := shared.m[uuid]; s != nil {
		if s.refs--; s.refs <= 0 {
			delete(shared.m, uuid)
		}
	}
}
