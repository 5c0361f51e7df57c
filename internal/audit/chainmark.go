package audit

import (
	"context"
	"fmt"

	"github.com/cofferhq/coffer/internal/logical"
)

// chainPrefix is where each chained file device's mark is kept, by UUID,
// in the broker's storage.
const chainPrefix = "chain/"

// chainMark is where a device's chain stood when it last wrote a
// checkpoint: kept in the barrier, so that a file cut or replaced while
// the device was closed cannot be continued as if whole. Without it a
// restart continued from whatever line the file then ended with, and
// lines removed from its end while the server was down left no trace.
type chainMark struct {
	Head  string `json:"head"`
	Count uint64 `json:"count"`
}

// markHooks are the mark's load and save for the device c.
func (b *Broker) markHooks(c Config) (load func() (chainMark, bool), save func(chainMark)) {
	load = func() (chainMark, bool) {
		var m chainMark
		found, err := logical.GetJSON(context.Background(), b.storage, chainPrefix+c.UUID, &m)
		if err != nil {
			b.logger.Error("read the mark of an audit chain", "path", c.Path, "error", err.Error())
		}
		return m, found && err == nil && m.Head != ""
	}
	save = func(m chainMark) {
		if err := logical.PutJSON(context.Background(), b.storage, chainPrefix+c.UUID, m); err != nil {
			b.logger.Error("record the mark of an audit chain", "path", c.Path, "error", err.Error())
		}
	}
	return load, save
}

// startState is where the chain of the file being opened goes on from:
// the file's last line, when the file holds the line the mark names (or
// there is no mark yet); otherwise the mark itself, so that the
// checkpoint about to be written does not follow the file's last line
// and `coffer audit verify` reports the cut there. A missing or empty
// file continues the marked chain (a rotation made while the server was
// down).
func (s *fileSink) startState(size int64) (chainState, error) {
	var mark chainMark
	marked := false
	if s.hooks.loadMark != nil {
		mark, marked = s.hooks.loadMark()
	}
	var st chainState
	ok, seen := false, false
	if size > 0 {
		st, ok, seen = recoverChain(s.path, s.chain, mark.Head)
	}
	switch {
	case !marked:
		if ok {
			return st, nil
		}
		return chainState{}, nil
	case ok && seen:
		return st, nil
	case size > 0:
		return chainState{head: mark.Head, count: mark.Count, set: true},
			fmt.Errorf("audit file %s does not hold the last line the device recorded in its chain: it was cut or replaced while the device was closed; the chain goes on from that line, so coffer audit verify reports the break", s.path)
	}
	return chainState{head: mark.Head, count: mark.Count, set: true}, nil
}

// saveMark records where the chain stands.
func (s *fileSink) saveMark() {
	if s.hooks.saveMark != nil {
		s.hooks.saveMark(chainMark{Head: s.chain.state.head, Count: s.chain.state.count})
	}
}
