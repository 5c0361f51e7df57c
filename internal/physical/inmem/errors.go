package inmem

import (
	"errors"
	"fmt"
)

// ErrNilEntry is returned by Transaction when an op carries no entry.
var ErrNilEntry = errors.New("transaction op has no entry")

func fmtNilEntry(i int) error { return fmt.Errorf("op %d: %w", i, ErrNilEntry) }
