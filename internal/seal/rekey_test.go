package seal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	obshamir "github.com/openbao/openbao/sdk/v2/helper/shamir"

	"github.com/cofferhq/coffer/internal/barrier"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/seal"
)

// unsealedFixture initialises a fixture over p with n shares, threshold t,
// unseals it, and returns it with its shares.
func unsealedFixture(t *testing.T, p physical.Backend, n, th int) (fixture, [][]byte) {
	t.Helper()
	ctx := context.Background()
	b := barrier.New(p)
	f := fixture{b: b, m: seal.NewManager(p, b)}
	shares, err := f.m.Init(ctx, n, th)
	if err != nil {
		t.Fatal(err)
	}
	unsealWith(t, f.m, shares[:th])
	return f, shares
}

func unsealWith(t *testing.T, m *seal.Manager, shares [][]byte) {
	t.Helper()
	for _, s := range shares {
		if _, err := m.Unseal(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	if st := status(t, m); st.Sealed {
		t.Fatal("still sealed")
	}
}

// unsealsAfterRestart reports whether a new barrier and manager over p (a
// restarted server) unseal with the first threshold of shares, threshold
// being what the stored configuration says.
func unsealsAfterRestart(t *testing.T, p physical.Backend, shares [][]byte) bool {
	t.Helper()
	ctx := context.Background()
	b := barrier.New(p)
	m := seal.NewManager(p, b)
	st := status(t, m)
	if st.T > len(shares) {
		return false
	}
	for _, s := range shares[:st.T] {
		if _, err := m.Unseal(ctx, s); err != nil {
			if errors.Is(err, seal.ErrInvalidKey) || errors.Is(err, seal.ErrInvalidShare) {
				return false
			}
			t.Fatal(err)
		}
	}
	return !b.Sealed()
}

// rekey runs a whole rekey on f to n shares of threshold th, giving the
// current shares old and, with verify, the new ones back; it returns the
// new shares.
func rekey(t *testing.T, f fixture, old [][]byte, n, th int, verify bool) [][]byte {
	t.Helper()
	ctx := context.Background()
	st, err := f.m.RekeyInit(ctx, n, th, verify)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Started || st.Nonce == "" || st.N != n || st.T != th || st.Required != len(old) || st.VerificationRequired != verify {
		t.Fatalf("status after init = %+v", st)
	}
	var res *seal.RekeyResult
	for i, s := range old {
		if res, err = f.m.RekeyUpdate(ctx, s, st.Nonce); err != nil {
			t.Fatalf("current share %d: %v", i, err)
		}
		if (res == nil) != (i < len(old)-1) {
			t.Fatalf("after share %d result = %+v", i, res)
		}
	}
	if len(res.Shares) != n || res.VerificationRequired != verify || (res.VerificationNonce != "") != verify {
		t.Fatalf("result = %d shares, %+v", len(res.Shares), res)
	}
	if !verify {
		return res.Shares
	}
	for i, s := range res.Shares[:th] {
		done, _, err := f.m.RekeyVerify(ctx, s, res.VerificationNonce)
		if err != nil {
			t.Fatalf("new share %d: %v", i, err)
		}
		if done != (i == th-1) {
			t.Fatalf("after new share %d done = %v", i, done)
		}
	}
	return res.Shares
}

func TestRekey(t *testing.T) {
	cases := map[string]struct {
		n, t, newN, newT int
		verify           bool
	}{
		"3 of 5 to 2 of 3":           {5, 3, 3, 2, false},
		"2 of 3 to 4 of 6, verified": {3, 2, 6, 4, true},
		"2 of 3 to 1 of 1":           {3, 2, 1, 1, false},
		"1 of 1 to 3 of 5, verified": {1, 1, 5, 3, true},
		"1 of 1 to 1 of 1":           {1, 1, 1, 1, false},
		"5 of 5 to 2 of 2, verified": {5, 5, 2, 2, true},
		"2 of 2 to 3 of 10":          {2, 2, 10, 3, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := inmem.New()
			f, old := unsealedFixture(t, p, tc.n, tc.t)
			if err := f.b.Put(context.Background(), &logical.StorageEntry{Key: "k", Value: []byte("v")}); err != nil {
				t.Fatal(err)
			}
			shares := rekey(t, f, old[:tc.t], tc.newN, tc.newT, tc.verify)
			if st := status(t, f.m); st.N != tc.newN || st.T != tc.newT || st.Sealed {
				t.Fatalf("seal status after rekey = %+v", st)
			}
			if rs, err := f.m.RekeyStatus(context.Background()); err != nil || rs.Started {
				t.Fatalf("rekey status after completion = %+v, %v", rs, err)
			}
			if unsealsAfterRestart(t, p, old) {
				t.Fatal("the old shares still unseal after the rekey")
			}
			if !unsealsAfterRestart(t, p, shares[len(shares)-tc.newT:]) {
				t.Fatal("the new shares do not unseal after the rekey")
			}
			if tc.newT > 1 {
				// Shares from a rekey combine with OpenBao's Shamir too.
				a, err := obshamir.Combine(shares[:tc.newT])
				if err != nil {
					t.Fatal(err)
				}
				b, err := seal.Combine(shares[len(shares)-tc.newT:])
				if err != nil || !bytes.Equal(a, b) || len(a) != seal.KeySize {
					t.Fatalf("openbao and coffer combine the new shares differently: %v", err)
				}
			}
			// The data survived.
			g := fixture{b: barrier.New(p)}
			g.m = seal.NewManager(p, g.b)
			unsealWith(t, g.m, shares[:tc.newT])
			if e, err := g.b.Get(context.Background(), "k"); err != nil || e == nil || string(e.Value) != "v" {
				t.Fatalf("value after rekey and restart = %v, %v", e, err)
			}
		})
	}
}

func TestRekeyOldSharesValidUntilVerified(t *testing.T) {
	ctx := context.Background()
	p := inmem.New()
	f, old := unsealedFixture(t, p, 3, 2)
	st, err := f.m.RekeyInit(ctx, 4, 3, true)
	if err != nil {
		t.Fatal(err)
	}
	var res *seal.RekeyResult
	for _, s := range old[:2] {
		if res, err = f.m.RekeyUpdate(ctx, s, st.Nonce); err != nil {
			t.Fatal(err)
		}
	}
	// A crash or restart now: the new shares were handed out, but only
	// the old ones unseal.
	if !unsealsAfterRestart(t, p, old) || unsealsAfterRestart(t, p, res.Shares) {
		t.Fatal("before verification only the old shares may unseal")
	}
	if _, err := f.m.RekeyUpdate(ctx, old[2], st.Nonce); err == nil || !strings.Contains(err.Error(), res.VerificationNonce) {
		t.Fatalf("update while verification is due = %v, want a 400 naming the verification nonce", err)
	}
	vs, err := f.m.RekeyVerifyStatus(ctx)
	if err != nil || !vs.Started || vs.Nonce != res.VerificationNonce || vs.T != 3 || vs.N != 4 {
		t.Fatalf("verify status = %+v, %v", vs, err)
	}
	// The old shares are not the new ones: verification fails, the nonce
	// changes and progress starts again.
	nonce := res.VerificationNonce
	for i, s := range old[:3] {
		_, _, err = f.m.RekeyVerify(ctx, s, nonce)
		if i < 2 && err != nil {
			t.Fatal(err)
		}
	}
	if !errors.Is(err, seal.ErrVerifyKey) {
		t.Fatalf("verify with the old shares = %v", err)
	}
	vs, _ = f.m.RekeyVerifyStatus(ctx)
	if vs.Nonce == nonce || vs.Progress != 0 || !vs.Started {
		t.Fatalf("verify status after failure = %+v", vs)
	}
	if _, _, err := f.m.RekeyVerify(ctx, res.Shares[0], nonce); err == nil {
		t.Fatal("the stale verification nonce was accepted")
	}
	// Restart verification: new nonce again.
	restarted, err := f.m.RekeyVerifyRestart(ctx)
	if err != nil || restarted.Nonce == vs.Nonce || restarted.Progress != 0 {
		t.Fatalf("restart = %+v, %v", restarted, err)
	}
	for _, s := range res.Shares[1:4] {
		if _, _, err := f.m.RekeyVerify(ctx, s, restarted.Nonce); err != nil {
			t.Fatal(err)
		}
	}
	if unsealsAfterRestart(t, p, old) || !unsealsAfterRestart(t, p, res.Shares[:3]) {
		t.Fatal("after verification only the new shares may unseal")
	}
}

// faulty counts writes to an in-memory backend and, from write failAt on,
// loses them (a crash: nothing more reaches storage) or, with
// commitThenFail, applies the first faulty one and reports failure.
type faulty struct {
	*inmem.Backend
	writes, failAt int
	commitThenFail bool
}

func (f *faulty) fault(apply func() error) error {
	n := f.writes
	f.writes++
	if f.failAt < 0 || n < f.failAt {
		return apply()
	}
	if f.commitThenFail && n == f.failAt {
		if err := apply(); err != nil {
			return err
		}
	}
	return fmt.Errorf("injected crash at write %d", n)
}

func (f *faulty) Put(ctx context.Context, e *physical.Entry) error {
	return f.fault(func() error { return f.Backend.Put(ctx, e) })
}

func (f *faulty) Delete(ctx context.Context, k string) error {
	return f.fault(func() error { return f.Backend.Delete(ctx, k) })
}

func (f *faulty) Transaction(ctx context.Context, ops []physical.TxnOp) error {
	return f.fault(func() error { return f.Backend.Transaction(ctx, ops) })
}

// TestRekeyCrashAtEveryWrite stops storage at each write the rekey makes
// in turn (and, separately, loses the reply of that write after it
// committed) and restarts the server: it must unseal with the old shares
// or with the new ones, never with neither, and never with both.
func TestRekeyCrashAtEveryWrite(t *testing.T) {
	for _, commitThenFail := range []bool{false, true} {
		tested := 0
		for k := 0; ; k++ {
			ctx := context.Background()
			p := &faulty{Backend: inmem.New(), failAt: -1, commitThenFail: commitThenFail}
			f, old := unsealedFixture(t, p, 5, 3)
			st, err := f.m.RekeyInit(ctx, 3, 2, true)
			if err != nil {
				t.Fatal(err)
			}
			var res *seal.RekeyResult
			for _, s := range old[:3] {
				if res, err = f.m.RekeyUpdate(ctx, s, st.Nonce); err != nil {
					t.Fatal(err)
				}
			}
			p.failAt = p.writes + k
			for _, s := range res.Shares[:2] {
				_, _, err = f.m.RekeyVerify(ctx, s, res.VerificationNonce)
			}
			if p.writes <= p.failAt {
				break // the rekey made fewer than k+1 writes: all positions done
			}
			tested++
			oldOK := unsealsAfterRestart(t, p.Backend, old[2:])
			newOK := unsealsAfterRestart(t, p.Backend, res.Shares[1:])
			if oldOK == newOK {
				t.Fatalf("crash at rekey write %d (commit then fail %v): old shares unseal %v, new shares unseal %v",
					k, commitThenFail, oldOK, newOK)
			}
			if (err == nil) != newOK {
				t.Fatalf("crash at rekey write %d: the rekey reported %v but the new shares unseal %v", k, err, newOK)
			}
		}
		if tested == 0 {
			t.Fatal("the rekey made no write to crash in")
		}
	}
}

func TestRekeyErrors(t *testing.T) {
	ctx := context.Background()
	f, shares := unsealedFixture(t, inmem.New(), 5, 3)
	_, foreign := unsealedFixture(t, inmem.New(), 5, 3)
	cases := map[string]struct {
		run  func() error
		want error
	}{
		"bad parts": {func() error {
			_, err := f.m.RekeyInit(ctx, 2, 3, false)
			return err
		}, seal.ErrParts},
		"threshold 1 of 3": {func() error {
			_, err := f.m.RekeyInit(ctx, 3, 1, false)
			return err
		}, seal.ErrParts},
		"update without rekey": {func() error {
			_, err := f.m.RekeyUpdate(ctx, shares[0], "x")
			return err
		}, seal.ErrNoRekey},
		"verify status without rekey": {func() error {
			_, err := f.m.RekeyVerifyStatus(ctx)
			return err
		}, seal.ErrNoRekeyConfig},
		"verify without rekey": {func() error {
			_, _, err := f.m.RekeyVerify(ctx, shares[0], "x")
			return err
		}, seal.ErrNoRekey},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if err := tc.run(); !errors.Is(err, tc.want) || !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("err = %v, want %v as a 400", err, tc.want)
			}
		})
	}

	st, err := f.m.RekeyInit(ctx, 3, 2, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.RekeyInit(ctx, 3, 2, false); !errors.Is(err, seal.ErrRekeyInProgress) {
		t.Fatalf("second init = %v", err)
	}
	if _, err := f.m.RekeyUpdate(ctx, shares[0], "wrong"); err == nil || !strings.Contains(err.Error(), st.Nonce) {
		t.Fatalf("wrong nonce = %v, want a 400 naming the right one", err)
	}
	if _, err := f.m.RekeyUpdate(ctx, shares[0][:10], st.Nonce); !errors.Is(err, seal.ErrInvalidShare) {
		t.Fatalf("short share = %v", err)
	}
	if _, err := f.m.RekeyUpdate(ctx, shares[0], st.Nonce); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.RekeyUpdate(ctx, shares[0], st.Nonce); !errors.Is(err, seal.ErrDuplicateShareGiven) {
		t.Fatalf("duplicate share = %v", err)
	}
	if _, _, err := f.m.RekeyVerify(ctx, shares[1], st.Nonce); !errors.Is(err, seal.ErrNoVerification) {
		t.Fatalf("verify before verification = %v", err)
	}
	// Shares of another server: progress resets, the rekey goes on.
	if _, err := f.m.RekeyUpdate(ctx, foreign[1], st.Nonce); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.RekeyUpdate(ctx, foreign[2], st.Nonce); !errors.Is(err, seal.ErrRekeyKey) {
		t.Fatalf("foreign shares = %v", err)
	}
	if rs, _ := f.m.RekeyStatus(ctx); !rs.Started || rs.Progress != 0 || rs.Nonce != st.Nonce {
		t.Fatalf("status after bad shares = %+v", rs)
	}
	if err := f.m.RekeyCancel(ctx); err != nil {
		t.Fatal(err)
	}
	if rs, _ := f.m.RekeyStatus(ctx); rs.Started || rs.Required != 3 {
		t.Fatalf("status after cancel = %+v", rs)
	}
	if err := f.b.CheckUnsealKey(mustCombine(t, shares[:3])); err != nil {
		t.Fatalf("a failed and cancelled rekey changed the key: %v", err)
	}
}

func mustCombine(t *testing.T, shares [][]byte) []byte {
	t.Helper()
	k, err := seal.Combine(shares)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRekeySealedAndStatic(t *testing.T) {
	ctx := context.Background()
	f, _ := unsealedFixture(t, inmem.New(), 3, 2)
	if err := f.m.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"status":  func() error { _, err := f.m.RekeyStatus(ctx); return err },
		"init":    func() error { _, err := f.m.RekeyInit(ctx, 3, 2, false); return err },
		"update":  func() error { _, err := f.m.RekeyUpdate(ctx, make([]byte, 33), ""); return err },
		"cancel":  func() error { return f.m.RekeyCancel(ctx) },
		"verify":  func() error { _, _, err := f.m.RekeyVerify(ctx, make([]byte, 33), ""); return err },
		"vstatus": func() error { _, err := f.m.RekeyVerifyStatus(ctx); return err },
		"restart": func() error { _, err := f.m.RekeyVerifyRestart(ctx); return err },
	}
	for name, call := range calls {
		t.Run("sealed "+name, func(t *testing.T) {
			if err := call(); !errors.Is(err, logical.ErrSealed) {
				t.Fatalf("err = %v, want sealed", err)
			}
		})
	}
	s := newFixture()
	key := bytes.Repeat([]byte{7}, seal.KeySize)
	if err := s.m.InitWithKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := s.m.AutoUnseal(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.m.RekeyInit(ctx, 3, 2, false); !errors.Is(err, seal.ErrStaticRekey) {
		t.Fatalf("static rekey = %v", err)
	}
}

func TestSealEndsRekey(t *testing.T) {
	ctx := context.Background()
	p := inmem.New()
	f, old := unsealedFixture(t, p, 3, 2)
	st, _ := f.m.RekeyInit(ctx, 2, 2, true)
	for _, s := range old[:2] {
		if _, err := f.m.RekeyUpdate(ctx, s, st.Nonce); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.m.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	unsealWith(t, f.m, old[1:3])
	if rs, err := f.m.RekeyStatus(ctx); err != nil || rs.Started {
		t.Fatalf("a rekey survived a seal: %+v, %v", rs, err)
	}
}

// TestRekeyConcurrentShares: share holders posting at the same time each
// count once, and exactly one of them receives the new shares (run with
// -race).
func TestRekeyConcurrentShares(t *testing.T) {
	ctx := context.Background()
	p := inmem.New()
	f, old := unsealedFixture(t, p, 10, 5)
	st, err := f.m.RekeyInit(ctx, 3, 2, false)
	if err != nil {
		t.Fatal(err)
	}
	type out struct {
		res *seal.RekeyResult
		err error
	}
	results := make(chan out, len(old[:5]))
	for _, s := range old[:5] {
		go func() {
			res, err := f.m.RekeyUpdate(ctx, s, st.Nonce)
			results <- out{res, err}
			_, _ = f.m.RekeyStatus(ctx)
		}()
	}
	var got *seal.RekeyResult
	for range 5 {
		o := <-results
		if o.err != nil {
			t.Fatal(o.err)
		}
		if o.res != nil {
			if got != nil {
				t.Fatal("two callers received new shares")
			}
			got = o.res
		}
	}
	if got == nil || !unsealsAfterRestart(t, p, got.Shares) {
		t.Fatal("the rekey did not complete with the shares handed out")
	}
}
