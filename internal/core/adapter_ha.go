package core

import (
	"context"

	"github.com/cofferhq/coffer/internal/system"
)

var _ system.HA = sysAdapter{}

func (a sysAdapter) LeaderStatus() system.LeaderStatus  { return a.c.LeaderStatus() }
func (a sysAdapter) Standby() bool                      { return a.c.Standby() }
func (a sysAdapter) StepDown(ctx context.Context) error { return a.c.StepDown(ctx) }
func (a sysAdapter) HANodes() []system.HANode           { return a.c.HANodes() }
