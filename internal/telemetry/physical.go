package telemetry

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofferhq/coffer/internal/physical"
)

// Physical returns b with the time of every operation recorded under
// coffer_storage_duration_seconds{backend=backendType}. The result is
// transactional (and a Closer) exactly when b is. A nil Metrics returns b.
func (m *Metrics) Physical(b physical.Backend, backendType string) physical.Backend {
	if m == nil {
		return b
	}
	t := timedPhysical{b: b}
	for i, op := range []string{"get", "put", "delete", "list", "transaction"} {
		t.obs[i] = m.storageOps.WithLabelValues(orNone(backendType), op)
	}
	tx, isTx := b.(physical.Transactional)
	cl, isCl := b.(physical.Closer)
	switch {
	case isTx && isCl:
		return struct {
			timedTxPhysical
			physical.Closer
		}{timedTxPhysical{timedPhysical{b: b, obs: t.obs, tx: tx}}, cl}
	case isTx:
		return timedTxPhysical{timedPhysical{b: b, obs: t.obs, tx: tx}}
	case isCl:
		return struct {
			timedPhysical
			physical.Closer
		}{t, cl}
	}
	return t
}

const (
	opGet = iota
	opPut
	opDelete
	opList
	opTxn
)

// timedPhysical holds the observers resolved once, so an operation costs
// two clock reads and one histogram update, not a label lookup.
type timedPhysical struct {
	b   physical.Backend
	tx  physical.Transactional
	obs [5]prometheus.Observer
}

// since records op, begun at start (a reading of monotonic).
func (t timedPhysical) since(op int, start time.Duration) {
	t.obs[op].Observe((monotonic() - start).Seconds())
}

// clockBase anchors monotonic: time.Since of a Time that carries a
// monotonic reading reads only that clock, where time.Now reads the wall
// clock too; every storage operation is timed.
var clockBase = time.Now()

// monotonic is the time since clockBase, from the monotonic clock alone.
func monotonic() time.Duration { return time.Since(clockBase) }

func (t timedPhysical) Get(ctx context.Context, key string) (*physical.Entry, error) {
	defer t.since(opGet, monotonic())
	return t.b.Get(ctx, key)
}

// GetShared implements physical.SharedGetter, through b's when it has one.
func (t timedPhysical) GetShared(ctx context.Context, key string) (*physical.Entry, error) {
	defer t.since(opGet, monotonic())
	return physical.GetShared(ctx, t.b, key)
}

// BeginRead implements physical.ReadBeginner, through b's when it has
// one; each Get of the read is timed as a get.
func (t timedPhysical) BeginRead(ctx context.Context) (physical.ReadTx, error) {
	r, err := physical.BeginRead(ctx, t.b)
	if err != nil {
		return nil, err
	}
	return &timedRead{r: r, obs: t.obs[opGet]}, nil
}

type timedRead struct {
	r   physical.ReadTx
	obs prometheus.Observer
}

func (t *timedRead) Get(ctx context.Context, key string) ([]byte, bool, error) {
	start := monotonic()
	v, found, err := t.r.Get(ctx, key)
	t.obs.Observe((monotonic() - start).Seconds())
	return v, found, err
}

func (t *timedRead) Done() { t.r.Done() }

func (t timedPhysical) Put(ctx context.Context, e *physical.Entry) error {
	defer t.since(opPut, monotonic())
	return t.b.Put(ctx, e)
}

func (t timedPhysical) Delete(ctx context.Context, key string) error {
	defer t.since(opDelete, monotonic())
	return t.b.Delete(ctx, key)
}

func (t timedPhysical) List(ctx context.Context, prefix string) ([]string, error) {
	defer t.since(opList, monotonic())
	return t.b.List(ctx, prefix)
}

// timedTxPhysical is a timedPhysical over a transactional backend.
type timedTxPhysical struct{ timedPhysical }

func (t timedTxPhysical) Transaction(ctx context.Context, ops []physical.TxnOp) error {
	defer t.since(opTxn, monotonic())
	return t.tx.Transaction(ctx, ops)
}

var (
	_ physical.Backend       = timedPhysical{}
	_ physical.Transactional = timedTxPhysical{}
	_ physical.SharedGetter  = timedPhysical{}
	_ physical.ReadBeginner  = timedPhysical{}
)
