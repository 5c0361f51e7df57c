package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// Gate is an optional capability of a Handler, found by type assertion: it
// lets the HTTP layer refuse a request before reading its body, so that a
// caller without a valid token cannot make the server read and decode
// megabytes only to be told "permission denied".
type Gate interface {
	// Admit is asked before the body of req is read; req carries the
	// operation, path, token and remote address, and no Data. It returns
	// true when the path is served without a token (logins, the pre-auth
	// sys/ paths), false when req's token may authenticate a request now,
	// and otherwise the error the Handler would answer whatever the body
	// (permission denied, sealed). It does not authorise: the policy is
	// checked afterwards, against the decoded body. Safe for concurrent use.
	Admit(ctx context.Context, req *logical.Request) (unauthenticated bool, err error)
}

// DefaultMaxUnauthenticatedRequestSize caps the bodies of requests served
// without a token, unless Options says otherwise: a login or sys/init with
// PGP keys is a few kilobytes, so 1 MiB leaves ample room.
const DefaultMaxUnauthenticatedRequestSize = 1 << 20

// Charges of decodeCost, in bytes, calibrated against what encoding/json
// allocates (TestDecodeCostBoundsAllocation): a decoded value costs far more
// than its text when the text is dense structure, such as "[0,0,0,…]".
const (
	// costPerByte covers the decoder's copy of the text (grown by doubling),
	// the copies of strings, and the handler's own copy of the data.
	costPerByte = 6
	// costPerElement is one ',': a slot in a growing slice or map and a
	// boxed value.
	costPerElement = 128
	// costPerKey is one ':', a map key.
	costPerKey = 48
	// costPerObject is one '{': a map and its first group of slots.
	costPerObject = 384
	// costPerArray is one '[': a slice header and its first slots.
	costPerArray = 128
	// costFixed is charged once per body.
	costFixed = 4 << 10
)

// decodeCost estimates from above the memory that decoding raw into a
// map[string]any and handling it takes, without allocating: one pass over
// the text counting the structure outside strings.
func decodeCost(raw []byte) int64 {
	var elems, keys, objects, arrays int64
	inString, escaped := false, false
	for _, c := range raw {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case ',':
			elems++
		case ':':
			keys++
		case '{':
			objects++
		case '[':
			arrays++
		}
	}
	return costFixed + costPerByte*int64(len(raw)) + costPerElement*elems + costPerKey*keys +
		costPerObject*objects + costPerArray*arrays
}

// bodyLimit is the largest body req may send: the unauthenticated cap on
// paths served without a token, the listener's cap otherwise, and never
// more than the body budget can hold. Asking the Gate first means a request
// that would be refused anyway is refused before its body is read. It also
// says whether the request is served without a token.
func (a *api) bodyLimit(ctx context.Context, req *logical.Request) (int64, bool, error) {
	unauthenticated := req.ClientToken == ""
	if g, ok := a.core.(Gate); ok {
		var err error
		if unauthenticated, err = g.Admit(ctx, req); err != nil {
			return 0, false, err
		}
	}
	limit := a.max
	if unauthenticated && (limit < 0 || a.maxUnauth < limit) {
		limit = a.maxUnauth
	}
	if limit < 0 || limit > a.bodies.ReadSize() {
		limit = a.bodies.ReadSize()
	}
	if unauthenticated && limit > a.bodies.TokenlessReadSize() {
		limit = a.bodies.TokenlessReadSize()
	}
	return limit, unauthenticated, nil
}

// body reads and decodes the JSON object body of r within the body budget.
// An empty body yields nil data. The returned release gives the budget
// back; the caller calls it once the response is written.
func (a *api) body(w http.ResponseWriter, r *http.Request, req *logical.Request) (map[string]any, func(), error) {
	nop := func() {}
	if r.ContentLength == 0 {
		return nil, nop, nil
	}
	ctx := r.Context()
	limit, unauthenticated, err := a.bodyLimit(ctx, req)
	if err != nil {
		return nil, nop, err
	}
	if r.ContentLength > limit {
		return nil, nop, fmt.Errorf("%w: the limit is %d bytes", errBodyTooBig, limit)
	}
	start := a.bodies.start
	if unauthenticated {
		start = a.bodies.startTokenless
	}
	c := start()
	raw, err := readCharged(ctx, c, http.MaxBytesReader(w, r.Body, limit), r.ContentLength, limit, unauthenticated)
	if err != nil {
		c.release()
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe), errors.Is(err, errBodyTooBig):
			return nil, nop, fmt.Errorf("%w: the limit is %d bytes", errBodyTooBig, limit)
		case errors.Is(err, errBodiesBusy), ctx.Err() != nil:
			return nil, nop, err
		}
		return nil, nop, fmt.Errorf("%w: %v", errBadJSON, err)
	}
	c.shrinkRead(int64(len(raw)))
	if len(bytes.TrimSpace(raw)) == 0 {
		c.release()
		return nil, nop, nil
	}
	cost := decodeCost(raw)
	if cost > a.bodies.DecodeSize() {
		c.release()
		return nil, nop, fmt.Errorf("%w: decoding this body would take about %d MiB, more than the %d MiB the server spends on request bodies at once; send fewer, larger values",
			errBodyTooBig, mib(cost), mib(a.bodies.DecodeSize()))
	}
	if err := c.acquireDecode(ctx, cost); err != nil {
		c.release()
		return nil, nop, err
	}
	data, err := decodeObject(raw)
	if err != nil {
		c.release()
		return nil, nop, err
	}
	return data, c.release, nil
}

// readStep is the first buffer a token-less body is read into. The buffer
// doubles as the body arrives, and each size is charged to the read budget
// before it is made, so a slow sender without a token holds at most twice
// what it has sent plus readStep, never the size it declared or the cap.
// It is small because a connection that sends one byte holds all of it.
const readStep = 512

// growWait bounds how long a token-less body that has started arriving
// waits for budget to grow its buffer. Every such waiter holds budget while
// it waits; giving up (503) is what keeps partly read bodies from waiting on
// each other for ever.
var growWait = 10 * time.Second

// readCharged reads rd to its end (size bytes when size >= 0, else until
// EOF, with rd bounded to limit) into a buffer charged to c. A request with
// a token (admitted by the Gate, so accountable) charges its whole size, or
// the limit when chunked, before reading, waiting as long as ctx allows,
// and never waits again; a token-less one is charged as it arrives.
func readCharged(ctx context.Context, c *charge, rd io.Reader, size, limit int64, incremental bool) ([]byte, error) {
	bound := limit
	if size >= 0 {
		bound = min(size, limit)
	}
	first := bound
	if incremental || size < 0 {
		first = min(readStep, bound)
	}
	if !incremental {
		if err := c.acquireRead(ctx, bound); err != nil {
			return nil, err
		}
	}
	var buf []byte
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= bound {
				return buf, endOfBody(rd, size)
			}
			next := first
			if buf != nil {
				next = min(2*int64(cap(buf)), bound)
			}
			if err := growCharge(ctx, c, next, buf == nil); err != nil {
				return nil, err
			}
			buf = append(make([]byte, 0, next), buf...)
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			if size >= 0 && int64(len(buf)) < size {
				return nil, io.ErrUnexpectedEOF
			}
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// growCharge raises c's read charge to n bytes, if it holds less.
func growCharge(ctx context.Context, c *charge, n int64, first bool) error {
	if n <= c.read {
		return nil
	}
	if !first {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, growWait)
		defer cancel()
	}
	err := c.acquireRead(ctx, n-c.read)
	if err != nil && !first && errors.Is(err, context.DeadlineExceeded) {
		return errBodiesBusy
	}
	return err
}

// endOfBody checks that rd has nothing beyond the bound just read: with a
// declared size the server stops at it; without, one more byte means the
// limit (rd's MaxBytesReader says so).
func endOfBody(rd io.Reader, size int64) error {
	if size >= 0 {
		return nil
	}
	var one [1]byte
	n, err := rd.Read(one[:])
	for n == 0 && err == nil {
		n, err = rd.Read(one[:])
	}
	if err == io.EOF {
		return nil
	}
	if err == nil {
		err = errBodyTooBig
	}
	return err
}

// decodeObject decodes one JSON object, numbers as json.Number.
func decodeObject(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var data map[string]any
	if err := dec.Decode(&data); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadJSON, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: unexpected data after the JSON object", errBadJSON)
	}
	if data == nil {
		data = map[string]any{}
	}
	return data, nil
}

// mib rounds n bytes up to whole mebibytes.
func mib(n int64) int64 { return (n + 1<<20 - 1) >> 20 }
