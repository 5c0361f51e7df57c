package raft

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hraft "github.com/hashicorp/raft"
)

// Resync after an unconfirmed restore.
//
// hashicorp/raft's user restore installs the snapshot into the leader's
// state machine at index R = L+1 of its term T without writing a log entry
// there. When that leader loses leadership before the cluster commits the
// restore and another node wins without it, the new leader's entries from
// R on are refused forever (the follower finds no entry at R to compare),
// and the node keeps the snapshot's data. Raft never rolls a state machine
// back, so the node repairs itself here:
//
//   - Before the restore a marker file is written to the raft directory;
//     when the restore ends unconfirmed it records (R, T) and the node is
//     armed.
//   - The transport raft reads its RPCs from is watched: an AppendEntries
//     of a leader of a later term carrying, at an index up to R, an entry
//     (or a previous entry) of a later term than T, or one at R of another
//     term than T, proves that leader's log does not hold the restore. A
//     leader holds every committed entry, so the restore, and every entry
//     of term T from R on (all written by this node while it led), are not
//     committed: raft itself would drop them from the log on such a
//     conflict. Nothing else is evidence; a restore the cluster did commit
//     never produces it (every later leader holds it, as its snapshot).
//   - On that evidence the node stops raft, empties its state machine,
//     removes the snapshots from R on and every log entry from R on, and
//     starts raft again with the same stores, term and vote. Entries after
//     R are this node's own (written while it led, at term T or a later
//     one) or came from a leader that held the restore: a leader can only
//     append after R on this node when its log agrees at R (raft compares
//     the snapshot's term there). So a leader whose log differs at or
//     before R holds none of them; it holds every committed entry, so none
//     is committed, and raft itself would drop them on such a conflict. Raft then rebuilds the state machine
//     from the previous snapshot and the log, and the leader sends what is
//     missing. The marker is removed last, so a crash midway resyncs again.
//   - Once this node applies an entry past R with no evidence seen, the
//     restore was committed after all (by this node leading again, or a
//     leader that holds it) and the marker is removed.

// resyncMarker names the marker file in the raft directory.
const resyncMarker = "restore-unconfirmed"

// resyncPoll is how often an armed node checks whether the restore was
// confirmed.
const resyncPoll = 50 * time.Millisecond

// restorePoint is the index and term of a user restore (raft's snapshot).
type restorePoint struct{ index, term uint64 }

// conflicts reports whether a leader of a later term than p holding the
// entry (index, term) cannot hold the restore p.
func (p *restorePoint) conflicts(index, term uint64) bool {
	return index != 0 && index <= p.index && (term > p.term || index == p.index && term != p.term)
}

// watcher is what the transport checks incoming entries against.
type watcher struct {
	armed    atomic.Pointer[restorePoint]
	diverged atomic.Bool   // evidence seen for armed
	wake     chan struct{} // capacity 1: evidence seen
}

// check sets diverged when req is evidence that the armed restore is not
// in the cluster's log. It runs before raft sees req.
func (w *watcher) check(req *hraft.AppendEntriesRequest) {
	p := w.armed.Load()
	if p == nil || req.Term <= p.term || w.diverged.Load() {
		return
	}
	hit := p.conflicts(req.PrevLogEntry, req.PrevLogTerm)
	for _, e := range req.Entries {
		hit = hit || p.conflicts(e.Index, e.Term)
	}
	if !hit {
		return
	}
	w.diverged.Store(true)
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// watchedTransport passes the RPCs of the transport it wraps to raft after
// the watcher saw them. Raft's Shutdown does not close it (a resync starts
// raft again on it); Backend.Close closes the wrapped one.
type watchedTransport struct {
	hraft.Transport
	w    *watcher
	out  chan hraft.RPC
	done chan struct{}
	once sync.Once
}

func watchTransport(t hraft.Transport, w *watcher) *watchedTransport {
	wt := &watchedTransport{Transport: t, w: w, out: make(chan hraft.RPC), done: make(chan struct{})}
	go wt.forward(t.Consumer())
	return wt
}

func (t *watchedTransport) forward(in <-chan hraft.RPC) {
	for {
		select {
		case rpc := <-in:
			if req, ok := rpc.Command.(*hraft.AppendEntriesRequest); ok {
				t.w.check(req)
			}
			select {
			case t.out <- rpc:
			case <-t.done:
				return
			}
		case <-t.done:
			return
		}
	}
}

// Consumer is where raft reads the watched RPCs.
func (t *watchedTransport) Consumer() <-chan hraft.RPC { return t.out }

func (t *watchedTransport) stop() { t.once.Do(func() { close(t.done) }) }

// raftSide is the transport given to raft: t, with pre-vote when the
// wrapped transport has it.
func (t *watchedTransport) raftSide() hraft.Transport {
	if _, ok := t.Transport.(hraft.WithPreVote); ok {
		return preVoteTransport{t}
	}
	return t
}

type preVoteTransport struct{ *watchedTransport }

func (p preVoteTransport) RequestPreVote(id hraft.ServerID, target hraft.ServerAddress, args *hraft.RequestPreVoteRequest, resp *hraft.RequestPreVoteResponse) error {
	return p.Transport.(hraft.WithPreVote).RequestPreVote(id, target, args, resp)
}

func (b *Backend) markerPath() string { return filepath.Join(b.dir, "raft", resyncMarker) }

// writeMarker records p durably; nil records a restore about to start.
func (b *Backend) writeMarker(p *restorePoint) error {
	content := "pending\n"
	if p != nil {
		content = fmt.Sprintf("%d %d\n", p.index, p.term)
	}
	if err := writeSynced(b.markerPath(), []byte(content)); err != nil {
		return fmt.Errorf("write the restore marker: %w", err)
	}
	return syncDir(filepath.Dir(b.markerPath()))
}

// readMarker returns the marker's point, nil for a pending (or damaged)
// one; ok is false when there is no marker.
func (b *Backend) readMarker() (p *restorePoint, ok bool, err error) {
	data, err := os.ReadFile(b.markerPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read the restore marker: %w", err)
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return nil, true, nil
	}
	index, err1 := strconv.ParseUint(f[0], 10, 64)
	term, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return nil, true, nil
	}
	return &restorePoint{index: index, term: term}, true, nil
}

// clearMarker disarms p (any point when nil) and removes the marker.
func (b *Backend) clearMarker(p *restorePoint) {
	if p != nil && !b.watch.armed.CompareAndSwap(p, nil) {
		return
	}
	if p == nil {
		b.watch.armed.Store(nil)
	}
	if err := os.Remove(b.markerPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		b.fsm.logger.Warn("could not remove the restore marker", "error", err.Error())
	}
}

// armLatest arms the node with raft's latest snapshot: the restore just
// installed, or after a crash during a restore whatever is latest (a
// snapshot the cluster committed is never contradicted, so arming on it
// only waits for the next applied entry).
func (b *Backend) armLatest() error {
	metas, err := b.snaps.List()
	if err != nil {
		return fmt.Errorf("list raft snapshots: %w", err)
	}
	if len(metas) == 0 {
		b.clearMarker(nil)
		return nil
	}
	p := &restorePoint{index: metas[0].Index, term: metas[0].Term}
	if err := b.writeMarker(p); err != nil {
		return err
	}
	b.arm(p)
	return nil
}

// armFromMarker arms the node at Open when a marker was left.
func (b *Backend) armFromMarker() error {
	p, ok, err := b.readMarker()
	switch {
	case err != nil:
		return err
	case !ok:
		return nil
	case p == nil:
		return b.armLatest()
	}
	b.fsm.logger.Warn("an earlier restore on this node was not confirmed by the cluster; watching for the leader's log", "index", p.index, "term", p.term)
	b.arm(p)
	return nil
}

// rearm puts back the point a restore that changed nothing disarmed, or
// removes the marker when there was none.
func (b *Backend) rearm(p *restorePoint) {
	if p == nil {
		b.clearMarker(nil)
		return
	}
	if err := b.writeMarker(p); err != nil {
		b.fsm.logger.Error("cannot record the earlier unconfirmed restore again", "error", err.Error())
	}
	b.arm(p)
}

func (b *Backend) arm(p *restorePoint) {
	b.watch.diverged.Store(false)
	b.watch.armed.Store(p)
	go b.monitor(p)
}

// monitor resyncs on evidence, or disarms once p is confirmed.
func (b *Backend) monitor(p *restorePoint) {
	t := time.NewTicker(resyncPoll)
	defer t.Stop()
	for {
		select {
		case <-b.closed:
			return
		case <-b.watch.wake:
		case <-t.C:
		}
		if b.watch.armed.Load() != p {
			return
		}
		// Applied first: the watcher flags evidence before raft sees it.
		applied := b.r().AppliedIndex()
		if b.watch.diverged.Load() {
			done, err := b.resync(p)
			if done {
				return
			}
			if err != nil {
				b.fsm.logger.Error("resync after an unconfirmed restore failed; retrying in a second", "error", err.Error())
				select {
				case <-b.closed:
					return
				case <-time.After(time.Second):
				}
			}
			continue
		}
		if applied > p.index {
			b.fsm.logger.Info("the cluster confirmed the restore installed on this node", "index", p.index)
			b.clearMarker(p)
			return
		}
	}
}

// resync stops raft, drops the unconfirmed restore p and starts raft again
// (see the top of this file); done is false when it should be retried.
func (b *Backend) resync(p *restorePoint) (done bool, err error) {
	b.life.Lock()
	defer b.life.Unlock()
	select {
	case <-b.closed:
		return true, nil
	default:
	}
	if b.watch.armed.Load() != p {
		return true, nil
	}
	b.fsm.logger.Warn("the leader's log does not hold the restore this node installed while it led: rebuilding this node's state from the cluster's", "index", p.index, "term", p.term)
	b.StopAutopilot()
	old := b.r()
	if err := old.Shutdown().Error(); err != nil {
		return false, fmt.Errorf("stop raft: %w", err)
	}
	confirmed, dropErr := b.dropRestore(p, old.CommitIndex())
	// Raft starts again even when the drop failed midway (an I/O error):
	// the marker stays, so the node rebuilds from what is left and the
	// monitor tries again, rather than standing stopped.
	b.fsm.quiet.Store(true) // announced once caught up
	r, err := b.newRaft()
	b.fsm.quiet.Store(false)
	if err != nil {
		return false, errors.Join(dropErr, fmt.Errorf("start raft again: %w", err))
	}
	b.raft.Store(r)
	if dropErr != nil {
		return false, dropErr
	}
	b.clearMarker(p)
	if confirmed {
		b.fsm.logger.Info("the cluster confirmed the restore installed on this node", "index", p.index)
		return true, nil
	}
	b.resyncs.Add(1)
	go b.announceResync(r)
	return true, nil
}

// dropRestore removes the restore p from the stopped node: its state
// machine, the snapshots from p on and the log entries from p on. confirmed means the log shows p committed after all (an entry past
// it committed while it was in the log): nothing is changed then.
func (b *Backend) dropRestore(p *restorePoint, committed uint64) (confirmed bool, err error) {
	var at hraft.Log
	err = b.logs.GetLog(p.index, &at)
	missing := errors.Is(err, hraft.ErrLogNotFound)
	if err != nil && !missing {
		return false, fmt.Errorf("read raft log: %w", err)
	}
	if missing && committed > p.index {
		return true, nil
	}
	last, err := b.logs.LastIndex()
	if err != nil {
		return false, fmt.Errorf("read raft log: %w", err)
	}
	// An entry of another term at p came from a leader after raft dropped
	// this node's own from there: that leader's log is the cluster's.
	own := (missing || at.Term == p.term) && last >= p.index
	// The state machine first: a crash after this step restores the
	// snapshot at p again, and the marker brings the node back here.
	if err := b.fsm.wipe(); err != nil {
		return false, err
	}
	if err := b.removeSnapshotsFrom(p.index); err != nil {
		return false, err
	}
	if own {
		if err := b.logs.DeleteRange(p.index, last); err != nil {
			return false, fmt.Errorf("remove the unconfirmed entries from the raft log: %w", err)
		}
	}
	return false, nil
}

// removeSnapshotsFrom removes raft's snapshots at index and later.
func (b *Backend) removeSnapshotsFrom(index uint64) error {
	metas, err := b.snaps.List()
	if err != nil {
		return fmt.Errorf("list raft snapshots: %w", err)
	}
	dir := filepath.Join(b.dir, "raft", "snapshots")
	for _, m := range metas {
		if m.Index < index {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, m.ID)); err != nil {
			return fmt.Errorf("remove the unconfirmed restore's snapshot: %w", err)
		}
	}
	return syncDir(dir)
}

// announceResync tells OnRestore's callback once the restarted raft r has
// applied what the leader committed, as after a snapshot from the leader.
func (b *Backend) announceResync(r *hraft.Raft) {
	start := time.Now()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-b.closed:
			return
		case <-t.C:
		}
		if b.r() != r {
			return
		}
		c := r.CommitIndex()
		if c > 0 && r.AppliedIndex() >= c && r.LastContact().After(start) {
			break
		}
	}
	b.fsm.logger.Info("this node's state was rebuilt from the cluster's after an unconfirmed restore", "applied_index", r.AppliedIndex())
	if cb := b.fsm.onRestore.Load(); cb != nil {
		(*cb)()
	}
}
