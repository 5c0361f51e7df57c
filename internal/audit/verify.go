package audit

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// ChainFile is one file of a chain for Verify, in the order it was
// written (a rotated file before the one that replaced it).
type ChainFile struct {
	Name string
	R    io.Reader
}

// VerifyResult describes an intact chain.
type VerifyResult struct {
	Lines       int
	Checkpoints int
	// Count is the chain's count after the last line (lines before the
	// files given included, when they continue an older chain).
	Count uint64
	// Unsealed is the number of lines after the last checkpoint: a device
	// still writing, or an end that was cut off (nothing after the last
	// checkpoint proves the end is whole).
	Unsealed int
	// Continued is true when the first file continues an older chain (a
	// rotated file) rather than starting one.
	Continued bool
}

// TamperError names the first line where the chain breaks.
type TamperError struct {
	File   string
	Line   int
	Reason string
}

func (e *TamperError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason) }

// Verify checks that files hold an unbroken chain under the device's chain
// key, returning a *TamperError for the first line that was removed,
// altered, inserted or reordered (the break shows at the line after a
// removal or an edit, and at a moved or inserted line itself).
func Verify(chainKey []byte, files []ChainFile) (VerifyResult, error) {
	v := &verifier{c: newChain(chainKey), seen: map[string]string{}}
	v.genesis = v.c.genesis()
	for _, f := range files {
		br := bufio.NewReaderSize(f.R, 1<<16)
		for n := 1; ; n++ {
			line, rerr := br.ReadBytes('\n')
			if len(line) == 0 && rerr != nil {
				if rerr != io.EOF {
					return v.res, fmt.Errorf("read %s: %w", f.Name, rerr)
				}
				break
			}
			if err := v.line(f.Name, n, bytes.TrimRight(line, "\n")); err != nil {
				return v.res, err
			}
		}
	}
	if v.res.Lines == 0 {
		return v.res, &TamperError{File: name(files), Line: 1, Reason: "the log is empty: a chained device starts every file with a checkpoint"}
	}
	v.res.Count = v.count
	return v.res, nil
}

func name(files []ChainFile) string {
	if len(files) == 0 {
		return "-"
	}
	return files[0].Name
}

type verifier struct {
	c       *chain
	genesis string
	prev    string
	count   uint64
	started bool
	seen    map[string]string // HMAC of a line → where it is
	res     VerifyResult
}

func (v *verifier) line(file string, n int, line []byte) error {
	bad := func(format string, args ...any) error {
		return &TamperError{File: file, Line: n, Reason: fmt.Sprintf(format, args...)}
	}
	l, ok := parseLine(line)
	if !ok {
		return bad("not a JSON audit entry: the line was altered or cut")
	}
	if l.PrevHash == "" {
		return bad("no prev_hash: the line was altered, or inserted by something other than the device")
	}
	cp := l.Type == "checkpoint" && l.Checkpoint != nil
	switch {
	case !v.started:
		if !cp {
			return bad("the log does not start with a checkpoint: lines were removed from its start")
		}
		if l.PrevHash == v.genesis {
			if l.Checkpoint.Count != 0 {
				return bad("a chain's first checkpoint must count 0 lines, this one counts %d", l.Checkpoint.Count)
			}
		} else {
			v.res.Continued = true // a rotated file: the chain began in an earlier one
		}
		v.count, v.started = l.Checkpoint.Count, true
	case l.PrevHash != v.prev:
		if where, ok := v.seen[l.PrevHash]; ok {
			return bad("the line follows %s, not the line before it: lines were reordered or inserted", where)
		}
		return bad("the chain breaks here: the line before was altered, or lines were removed before this one, or this line was inserted")
	}
	if cp {
		if l.Checkpoint.Count != v.count {
			return bad("the checkpoint counts %d lines before it, the chain has %d: lines were removed or inserted", l.Checkpoint.Count, v.count)
		}
		v.res.Checkpoints++
		v.res.Unsealed = 0
	} else {
		v.res.Unsealed++
	}
	v.prev = v.c.sum(line)
	v.seen[v.prev] = file + ":" + itoa(n)
	v.count++
	v.res.Lines++
	return nil
}
