package core

import (
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/system"
)

// tokenMountView gives the token store the live TTL settings of the
// auth/token mount, so that a tune of its default_lease_ttl and
// max_lease_ttl reaches tokens created, and renewed, through it; the
// server's defaults until mt is set (the store opens before the table).
type tokenMountView struct {
	defaults logical.StaticSystemView
	mt       atomic.Pointer[mountTable]
}

func (v *tokenMountView) ttls() (time.Duration, time.Duration) {
	if mt := v.mt.Load(); mt != nil {
		mt.mu.RLock()
		defer mt.mu.RUnlock()
		for _, e := range mt.entries[system.AuthTable] {
			if e.Type == tokenTypeName {
				return mt.effectiveTTLs(e)
			}
		}
	}
	return v.defaults.DefaultTTL, v.defaults.MaxTTL
}

func (v *tokenMountView) DefaultLeaseTTL() time.Duration { d, _ := v.ttls(); return d }
func (v *tokenMountView) MaxLeaseTTL() time.Duration     { _, m := v.ttls(); return m }
