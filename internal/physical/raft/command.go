package raft

import (
	"encoding/binary"
	"fmt"

	"github.com/cofferhq/coffer/internal/physical"
)

// A command is the data of one raft log entry: a list of physical writes
// applied together. Put and Delete are one-op commands; a transaction is one
// command however many ops it has, so it is atomic on every node.
//
// Encoding: commandVersion, uvarint op count, then per op a kind byte
// (opPut, opDelete), uvarint key length and key, and for opPut a uvarint
// value length and value. Nothing follows the last op.
const commandVersion byte = 1

const (
	opPut    byte = 1
	opDelete byte = 2
)

// maxKeyLen matches bbolt's limit, so a key the FSM cannot store is refused
// on the leader rather than failing on every node.
const maxKeyLen = 32768

// checkOps refuses ops the FSM could not apply, before they reach the log.
func checkOps(ops []physical.TxnOp) error {
	for i, op := range ops {
		switch {
		case op.Entry == nil:
			return fmt.Errorf("op %d: %w", i, ErrNilEntry)
		case op.Entry.Key == "":
			return fmt.Errorf("op %d: %w", i, ErrEmptyKey)
		case len(op.Entry.Key) > maxKeyLen:
			return fmt.Errorf("op %d: key of %d bytes is longer than %d", i, len(op.Entry.Key), maxKeyLen)
		}
	}
	return nil
}

func encodeCommand(ops []physical.TxnOp) []byte {
	n := 1 + binary.MaxVarintLen64
	for _, op := range ops {
		n += 1 + 2*binary.MaxVarintLen64 + len(op.Entry.Key) + len(op.Entry.Value)
	}
	b := make([]byte, 0, n)
	b = append(b, commandVersion)
	b = binary.AppendUvarint(b, uint64(len(ops)))
	for _, op := range ops {
		if op.Delete {
			b = append(b, opDelete)
		} else {
			b = append(b, opPut)
		}
		b = binary.AppendUvarint(b, uint64(len(op.Entry.Key)))
		b = append(b, op.Entry.Key...)
		if !op.Delete {
			b = binary.AppendUvarint(b, uint64(len(op.Entry.Value)))
			b = append(b, op.Entry.Value...)
		}
	}
	return b
}

// decodeCommand parses data; the values alias data (the FSM copies them into
// bbolt within the same call).
func decodeCommand(data []byte) ([]physical.TxnOp, error) {
	if len(data) == 0 || data[0] != commandVersion {
		return nil, ErrBadCommand
	}
	r := data[1:]
	count, ok := uvarint(&r)
	if !ok || count > uint64(len(r)) { // every op takes at least one byte
		return nil, ErrBadCommand
	}
	ops := make([]physical.TxnOp, 0, count)
	for range count {
		if len(r) == 0 {
			return nil, ErrBadCommand
		}
		kind := r[0]
		r = r[1:]
		key, ok := bytesField(&r)
		if !ok || len(key) == 0 || (kind != opPut && kind != opDelete) {
			return nil, ErrBadCommand
		}
		op := physical.TxnOp{Delete: kind == opDelete, Entry: &physical.Entry{Key: string(key)}}
		if kind == opPut {
			if op.Entry.Value, ok = bytesField(&r); !ok {
				return nil, ErrBadCommand
			}
		}
		ops = append(ops, op)
	}
	if len(r) != 0 {
		return nil, ErrBadCommand
	}
	return ops, nil
}

func uvarint(r *[]byte) (uint64, bool) {
	v, n := binary.Uvarint(*r)
	if n <= 0 {
		return 0, false
	}
	*r = (*r)[n:]
	return v, true
}

func bytesField(r *[]byte) ([]byte, bool) {
	n, ok := uvarint(r)
	if !ok || n > uint64(len(*r)) {
		return nil, false
	}
	b := (*r)[:n:n]
	*r = (*r)[n:]
	return b, true
}
