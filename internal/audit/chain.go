package audit

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// The hash chain of a file device. Every line ends with
// "prev_hash":"hmac-sha256:<hex>", the HMAC (with the device's chain key,
// kept in the barrier) of the whole line before it, so that no line can be
// removed, altered, inserted or reordered without breaking the chain, and
// the chain cannot be recomputed without the key. Checkpoint lines,
// chained like the others, record how many lines came before them in the
// chain: when a file is opened (continuing the chain its last line ends,
// or the chain of the file a rotation renamed away), before it is closed
// or reopened, and every checkpoint_interval lines.

// genesisInput is what the first line of a new chain hashes instead of a
// previous line.
const genesisInput = "coffer audit chain genesis"

// chainState is where a chain stands: the HMAC of its last line and how
// many lines it has.
type chainState struct {
	head  string
	count uint64
	set   bool
}

// chain hashes a file's lines. Only the file sink's writer uses it, under
// its lock.
type chain struct {
	pool  sync.Pool
	state chainState
}

func newChain(key []byte) *chain {
	k := append([]byte(nil), key...)
	return &chain{pool: sync.Pool{New: func() any { return &hasher{h: hmac.New(sha256.New, k)} }}}
}

func (c *chain) started() bool { return c.state.set }

// sum returns "hmac-sha256:<hex>" of line.
func (c *chain) sum(line []byte) string {
	h := c.pool.Get().(*hasher)
	h.h.Reset()
	_, _ = h.h.Write(line)
	h.h.Sum(h.sum[:0])
	var b [hashLen]byte
	out := string(appendSum(b[:0], &h.sum))
	c.pool.Put(h)
	return out
}

func (c *chain) genesis() string { return c.sum([]byte(genesisInput)) }

// checkpointLine is the JSON of a checkpoint, before its prev_hash.
type checkpointLine struct {
	Time       string         `json:"time"`
	Type       string         `json:"type"`
	Checkpoint checkpointInfo `json:"checkpoint"`
}

type checkpointInfo struct {
	// Count is the number of lines of the chain before this one.
	Count  uint64 `json:"count"`
	Reason string `json:"reason"`
}

// extend appends lines to buf chained from the current state, with a
// checkpoint each time the count reaches a multiple of interval and one
// for reason (when not empty) at the end; it returns the new state
// without adopting it, so that a failed write leaves the chain unchanged.
func (c *chain) extend(buf []byte, lines *batch, reason string, interval uint64) ([]byte, chainState) {
	st := c.state
	if !st.set {
		st = chainState{head: c.genesis(), set: true}
	}
	add := func(line []byte) {
		start := len(buf)
		body := bytes.TrimRight(line, "\n")
		if n := len(body); n > 0 && body[n-1] == '}' {
			body = body[:n-1]
		}
		buf = append(buf, body...)
		if len(body) > 0 && body[len(body)-1] != '{' {
			buf = append(buf, ',')
		}
		buf = append(buf, `"prev_hash":"`...)
		buf = append(buf, st.head...)
		buf = append(buf, `"}`...)
		st.head = c.sum(buf[start:])
		st.count++
		buf = append(buf, '\n')
	}
	checkpoint := func(why string) {
		b, _ := json.Marshal(checkpointLine{Time: time.Now().UTC().Format(time.RFC3339Nano), Type: "checkpoint",
			Checkpoint: checkpointInfo{Count: st.count, Reason: why}})
		add(b)
	}
	if st.count == 0 && reason == "" {
		checkpoint("open")
	}
	if lines != nil {
		lines.each(func(l []byte) {
			add(l)
			if interval > 0 && st.count%interval == 0 {
				checkpoint("periodic")
			}
		})
	}
	if reason != "" {
		checkpoint(reason)
	}
	return buf, st
}

// chainedLine is what the chain needs of a line.
type chainedLine struct {
	Type       string          `json:"type"`
	PrevHash   string          `json:"prev_hash"`
	Checkpoint *checkpointInfo `json:"checkpoint"`
}

// parseLine reads a line's chain fields, after any prefix.
func parseLine(line []byte) (chainedLine, bool) {
	var l chainedLine
	i := bytes.IndexByte(line, '{')
	if i < 0 || json.Unmarshal(line[i:], &l) != nil {
		return l, false
	}
	return l, true
}

// tailWindow is how much of a file's end is read to find where its chain
// stands before the whole file is.
const tailWindow = 4 << 20

// recoverChain finds where the chain of the file at path stands: the HMAC
// of its last line and its count, from the last checkpoint. It reads the
// file's last few MiB, or all of it when they hold no checkpoint; ok is
// false when the file holds no chained line.
//
// seen is whether a line whose HMAC is want (a chainMark's head; empty:
// none is looked for) is among the lines read.
func recoverChain(path string, c *chain, want string) (st chainState, ok, seen bool) {
	f, err := os.Open(path)
	if err != nil {
		return chainState{}, false, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return chainState{}, false, false
	}
	if off := fi.Size() - tailWindow; off > 0 {
		if st, ok, seen := scanChain(io.NewSectionReader(f, off, tailWindow), true, c, want); ok && (seen || want == "") {
			return st, true, seen
		}
	}
	return scanChain(io.NewSectionReader(f, 0, fi.Size()), false, c, want)
}

func scanChain(r io.Reader, partialFirst bool, c *chain, want string) (chainState, bool, bool) {
	br := bufio.NewReaderSize(r, 1<<16)
	var (
		last       []byte
		cpCount    uint64
		after      uint64
		seenCP     bool
		skipFirst  = partialFirst
		lastParsed chainedLine
		seen       bool
	)
	for {
		line, err := br.ReadBytes('\n')
		line = bytes.TrimRight(line, "\n")
		if len(line) > 0 && !skipFirst {
			l, ok := parseLine(line)
			if ok && l.Checkpoint != nil && l.Type == "checkpoint" {
				cpCount, after, seenCP = l.Checkpoint.Count, 0, true
			} else {
				after++
			}
			last, lastParsed = line, l
			if want != "" && !seen {
				seen = c.sum(line) == want
			}
		}
		skipFirst = false
		if err != nil {
			break
		}
	}
	if !seenCP || lastParsed.PrevHash == "" {
		return chainState{}, false, seen
	}
	return chainState{head: c.sum(last), count: cpCount + 1 + after, set: true}, true, seen
}

// itoa is strconv.Itoa for the verifier's messages.
func itoa(n int) string { return strconv.Itoa(n) }
