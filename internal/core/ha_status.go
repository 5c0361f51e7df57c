package core

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
	raftstore "github.com/cofferhq/coffer/internal/physical/raft"
	"github.com/cofferhq/coffer/internal/system"
)

// Standby reports whether the server is unsealed and standing by: another
// server of its HA cluster is active, or none is yet.
func (c *Core) Standby() bool { return c.ha != nil && c.ha.standby.Load() }

// ActiveNode reports, on a standby, where the active server is: its
// api_addr and cluster_addr as it advertised them (empty while none is
// known). standby is false on an active or sealed server, whose requests
// are served (or refused) locally. Safe for concurrent use; the HTTP
// layer asks it for every request.
func (c *Core) ActiveNode() (apiAddr, clusterAddr string, standby bool) {
	if !c.Standby() {
		return "", "", false
	}
	if ad := c.ha.leader.Load(); ad != nil {
		return ad.APIAddr, ad.ClusterAddr, true
	}
	return "", "", true
}

// inactiveError is the answer of a server without the active state to a
// request that needs it.
func (c *Core) inactiveError(req *logical.Request) error {
	if !c.Standby() {
		return logical.ErrSealed
	}
	if req.Path == "sys/seal" {
		// As Vault: a standby cannot check the token here.
		return logical.InvalidRequest("cannot seal when in standby mode; please restart instead")
	}
	return logical.ErrStandby
}

// notLeaderError turns a write that raft refused because this node is
// not, or no longer, its leader into a 503 the client retries. It happens
// when leadership moves while a request is served (an election on a
// loaded machine, a step-down): the active server keeps its state until
// it sees the loss, and a standby may forward to it meanwhile; or before
// the first election settles, on sys/init. The next attempt reaches the
// new active server. The cause, which names storage keys, stays in the
// log. Any other error is returned as it is.
func (c *Core) notLeaderError(ctx context.Context, err error) error {
	if err == nil || !errors.Is(err, raftstore.ErrNotLeader) {
		return err
	}
	var ue *logical.UserError
	if errors.As(err, &ue) {
		return err // it says what to do already
	}
	c.logger.WarnContext(ctx, "request refused: leadership moved while it was served", "error", err.Error())
	if errors.Is(err, raftstore.ErrRestoreUnconfirmed) {
		return logical.CodedError(logical.ErrStandby, "%s", raftstore.ErrRestoreUnconfirmed.Error())
	}
	return logical.CodedError(logical.ErrStandby, "this node is not the raft leader (leadership is moving between nodes); "+
		"retry shortly: a write cut off by the change may or may not have been applied")
}

// StepDown makes the active server give leadership up: it stops serving as
// active at once and waits before it campaigns again, so another server
// takes over (raft hands leadership to another voter). It returns before
// the change is complete; without HA it does nothing.
func (c *Core) StepDown(context.Context) error {
	if c.ha == nil || c.state.Load() == nil {
		return nil
	}
	select {
	case c.ha.stepDown <- struct{}{}:
	default: // one is pending already
	}
	return nil
}

// RecordEcho notes that the standby n is alive; the active server lists it
// in sys/ha-status until it stops echoing, and autopilot counts it as a
// heartbeat of its raft node.
func (c *Core) RecordEcho(n HANode) {
	if c.ha == nil {
		return
	}
	c.recordHeartbeat(n)
	n.Active, n.LastEcho = false, time.Now().UTC()
	key := n.ClusterAddr
	if key == "" {
		key = n.APIAddr
	}
	c.ha.echoMu.Lock()
	defer c.ha.echoMu.Unlock()
	c.ha.echoes[key] = n
	for k, e := range c.ha.echoes {
		if time.Since(e.LastEcho) > echoExpiry {
			delete(c.ha.echoes, k)
		}
	}
}

// HANodes lists this active server first, then the standbys that echoed
// within the last 30 s, by address.
func (c *Core) HANodes() []HANode {
	var out []HANode
	if c.ha == nil || c.state.Load() == nil {
		return out
	}
	if ad := c.ha.leader.Load(); ad != nil {
		out = append(out, HANode{Hostname: ad.Hostname, APIAddr: ad.APIAddr, ClusterAddr: ad.ClusterAddr, Active: true})
	}
	c.ha.echoMu.Lock()
	var rest []HANode
	for _, e := range c.ha.echoes {
		if time.Since(e.LastEcho) <= echoExpiry {
			rest = append(rest, e)
		}
	}
	c.ha.echoMu.Unlock()
	slices.SortFunc(rest, func(a, b HANode) int { return strings.Compare(a.ClusterAddr+a.APIAddr, b.ClusterAddr+b.APIAddr) })
	return append(out, rest...)
}

// raftIndexes is implemented by raft storage.
type raftIndexes interface {
	Indexes() (committed, applied uint64)
}

// LeaderStatus is what sys/leader reports.
func (c *Core) LeaderStatus() system.LeaderStatus {
	ls := system.LeaderStatus{HAEnabled: c.ha != nil}
	if c.ha == nil {
		return ls
	}
	if ri, ok := c.ha.backend.(raftIndexes); ok {
		ls.RaftCommittedIndex, ls.RaftAppliedIndex = ri.Indexes()
	}
	ls.IsSelf = c.state.Load() != nil && !c.Standby()
	if t := c.ha.activeSince.Load(); t != nil && ls.IsSelf {
		ls.ActiveTime = *t
	}
	if ad := c.ha.leader.Load(); ad != nil && !c.Sealed() {
		ls.LeaderAddress, ls.LeaderClusterAddress = ad.APIAddr, ad.ClusterAddr
		if !ls.IsSelf {
			ls.ActiveTime = ad.ActiveTime
		}
	}
	return ls
}
