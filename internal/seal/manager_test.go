package seal_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/cofferhq/coffer/internal/barrier"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/seal"
)

type fixture struct {
	p *inmem.Backend
	b *barrier.Barrier
	m *seal.Manager
}

func newFixture() fixture {
	p := inmem.New()
	b := barrier.New(p)
	return fixture{p: p, b: b, m: seal.NewManager(p, b)}
}

func status(t *testing.T, m *seal.Manager) seal.Status {
	t.Helper()
	st, err := m.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestInitAndUnseal(t *testing.T) {
	cases := map[string]struct{ n, t int }{
		"1 of 1": {1, 1},
		"2 of 3": {3, 2},
		"3 of 5": {5, 3},
		"5 of 5": {5, 5},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newFixture()
			if st := status(t, f.m); st.Initialized || !st.Sealed || st.Type != seal.TypeShamir {
				t.Fatalf("status before init = %+v", st)
			}
			shares, err := f.m.Init(ctx, tc.n, tc.t)
			if err != nil {
				t.Fatal(err)
			}
			if len(shares) != tc.n {
				t.Fatalf("got %d shares, want %d", len(shares), tc.n)
			}
			st := status(t, f.m)
			want := seal.Status{Type: seal.TypeShamir, Initialized: true, Sealed: true, T: tc.t, N: tc.n}
			if st != want {
				t.Fatalf("status after init = %+v, want %+v", st, want)
			}
			// Use the last t shares, so a subset other than the first works.
			use := shares[tc.n-tc.t:]
			var nonce string
			for i, s := range use {
				st, err := f.m.Unseal(ctx, s)
				if err != nil {
					t.Fatalf("share %d: %v", i, err)
				}
				if i < tc.t-1 {
					if !st.Sealed || st.Progress != i+1 || st.Nonce == "" {
						t.Fatalf("after share %d status = %+v", i, st)
					}
					if nonce != "" && st.Nonce != nonce {
						t.Fatal("nonce changed within one attempt")
					}
					nonce = st.Nonce
					continue
				}
				if st.Sealed || st.Progress != 0 || st.Nonce != "" {
					t.Fatalf("after last share status = %+v", st)
				}
			}
			if f.b.Sealed() {
				t.Fatal("barrier still sealed")
			}
			if err := f.b.Put(ctx, &logical.StorageEntry{Key: "k", Value: []byte("v")}); err != nil {
				t.Fatal(err)
			}
			// A share after unsealing is fine and changes nothing.
			if st, err := f.m.Unseal(ctx, shares[0]); err != nil || st.Sealed {
				t.Fatalf("Unseal when unsealed = %+v, %v", st, err)
			}
		})
	}
}

func TestOneOfOneShareIsKey(t *testing.T) {
	ctx := context.Background()
	f := newFixture()
	shares, err := f.m.Init(ctx, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(shares[0]) != seal.KeySize {
		t.Fatalf("1-of-1 share is %d bytes, want the %d-byte key", len(shares[0]), seal.KeySize)
	}
	if err := f.b.Unseal(ctx, shares[0]); err != nil {
		t.Fatalf("the single share does not unseal the barrier directly: %v", err)
	}
}

func TestInitErrors(t *testing.T) {
	cases := map[string]struct {
		n, t int
		want error
	}{
		"threshold 1 of 3":   {3, 1, seal.ErrParts},
		"threshold > shares": {2, 3, seal.ErrParts},
		"256 shares":         {256, 3, seal.ErrParts},
		"zero":               {0, 0, seal.ErrParts},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture()
			_, err := f.m.Init(context.Background(), tc.n, tc.t)
			if !errors.Is(err, tc.want) || !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("err = %v, want %v as a 400", err, tc.want)
			}
			if ok, _ := f.m.Initialized(context.Background()); ok {
				t.Fatal("initialized after a failed Init")
			}
		})
	}
	t.Run("twice", func(t *testing.T) {
		f := newFixture()
		if _, err := f.m.Init(context.Background(), 3, 2); err != nil {
			t.Fatal(err)
		}
		_, err := f.m.Init(context.Background(), 3, 2)
		if !errors.Is(err, seal.ErrAlreadyInitialized) || !errors.Is(err, logical.ErrInvalidRequest) {
			t.Fatalf("second Init err = %v", err)
		}
	})
}

func TestConfigStoredInPlaintext(t *testing.T) {
	ctx := context.Background()
	f := newFixture()
	if _, err := f.m.Init(ctx, 5, 3); err != nil {
		t.Fatal(err)
	}
	e, err := f.p.Get(ctx, "core/seal-config")
	if err != nil || e == nil {
		t.Fatalf("seal config missing: %v", err)
	}
	var cfg seal.Config
	if err := json.Unmarshal(e.Value, &cfg); err != nil {
		t.Fatal(err)
	}
	if want := (seal.Config{Type: "shamir", SecretShares: 5, SecretThreshold: 3}); cfg != want {
		t.Fatalf("config = %+v, want %+v", cfg, want)
	}
}

func TestWrongSharesResetProgress(t *testing.T) {
	ctx := context.Background()
	f := newFixture()
	shares, err := f.m.Init(ctx, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	other := newFixture()
	foreign, err := other.m.Init(ctx, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Unseal(ctx, shares[0]); err != nil {
		t.Fatal(err)
	}
	st, err := f.m.Unseal(ctx, foreign[1])
	if !errors.Is(err, seal.ErrInvalidKey) || !errors.Is(err, logical.ErrInvalidRequest) {
		t.Fatalf("err = %v, want ErrInvalidKey as a 400", err)
	}
	if !st.Sealed || st.Progress != 0 || st.Nonce != "" {
		t.Fatalf("status after bad key = %+v, want sealed with progress reset", st)
	}
	for _, s := range shares[1:] {
		if st, err = f.m.Unseal(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if st.Sealed {
		t.Fatal("correct shares did not unseal after a failed attempt")
	}
}

func TestUnsealShareHandling(t *testing.T) {
	ctx := context.Background()
	f := newFixture()
	shares, err := f.m.Init(ctx, 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Unseal(ctx, shares[0]); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		share    []byte
		want     error
		progress int
	}{
		"duplicate ignored": {shares[0], nil, 1},
		"too short":         {shares[1][:32], seal.ErrInvalidShare, 1},
		"too long":          {append(bytes.Clone(shares[1]), 0), seal.ErrInvalidShare, 1},
		"empty":             {nil, seal.ErrInvalidShare, 1},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			st, err := f.m.Unseal(ctx, tc.share)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if st.Progress != tc.progress {
				t.Fatalf("progress = %d, want %d", st.Progress, tc.progress)
			}
		})
	}
	f.m.ResetUnseal()
	if st := status(t, f.m); st.Progress != 0 || st.Nonce != "" {
		t.Fatalf("status after reset = %+v", st)
	}
}

func TestNonceChangesPerAttempt(t *testing.T) {
	ctx := context.Background()
	f := newFixture()
	shares, err := f.m.Init(ctx, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	st1, _ := f.m.Unseal(ctx, shares[0])
	f.m.ResetUnseal()
	st2, _ := f.m.Unseal(ctx, shares[0])
	if st1.Nonce == "" || st1.Nonce == st2.Nonce {
		t.Fatalf("nonces %q and %q, want two different non-empty ones", st1.Nonce, st2.Nonce)
	}
}

func TestUnsealBeforeInit(t *testing.T) {
	f := newFixture()
	_, err := f.m.Unseal(context.Background(), make([]byte, 33))
	if !errors.Is(err, seal.ErrNotInitialized) || !errors.Is(err, logical.ErrNotInitialized) {
		t.Fatalf("err = %v", err)
	}
}

func TestSeal(t *testing.T) {
	ctx := context.Background()
	f := newFixture()
	shares, err := f.m.Init(ctx, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range shares[:2] {
		if _, err := f.m.Unseal(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.m.Unseal(ctx, shares[0]); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	if st := status(t, f.m); !st.Sealed || st.Progress != 0 {
		t.Fatalf("status after seal = %+v", st)
	}
	if _, err := f.b.Get(ctx, "k"); !errors.Is(err, logical.ErrSealed) {
		t.Fatalf("barrier Get after seal err = %v", err)
	}
}

func TestStaticSeal(t *testing.T) {
	ctx := context.Background()
	f := newFixture()
	key := make([]byte, seal.KeySize)
	_, _ = rand.Read(key)
	if err := f.m.InitWithKey(ctx, key[:16]); !errors.Is(err, seal.ErrStaticKeyLength) {
		t.Fatalf("short key err = %v", err)
	}
	if err := f.m.InitWithKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := f.m.InitWithKey(ctx, key); !errors.Is(err, seal.ErrAlreadyInitialized) {
		t.Fatalf("second InitWithKey err = %v", err)
	}
	st := status(t, f.m)
	if st.Type != seal.TypeStatic || !st.Sealed || !st.Initialized {
		t.Fatalf("status = %+v", st)
	}
	wrong := bytes.Clone(key)
	wrong[0] ^= 1
	if err := f.m.AutoUnseal(ctx, wrong); !errors.Is(err, seal.ErrInvalidKey) {
		t.Fatalf("wrong key err = %v", err)
	}
	if _, err := f.m.Unseal(ctx, key); !errors.Is(err, seal.ErrWrongSealType) {
		t.Fatalf("share on static seal err = %v", err)
	}
	if err := f.m.AutoUnseal(ctx, key); err != nil {
		t.Fatal(err)
	}
	if st := status(t, f.m); st.Sealed {
		t.Fatal("still sealed after AutoUnseal")
	}
	if err := f.m.AutoUnseal(ctx, wrong); err != nil {
		t.Fatalf("AutoUnseal when unsealed = %v", err)
	}

	g := newFixture()
	if _, err := g.m.Init(ctx, 3, 2); err != nil {
		t.Fatal(err)
	}
	if err := g.m.AutoUnseal(ctx, key); !errors.Is(err, seal.ErrWrongSealType) {
		t.Fatalf("AutoUnseal on shamir seal err = %v", err)
	}
}

func TestConcurrentUnseal(t *testing.T) {
	ctx := context.Background()
	f := newFixture()
	shares, err := f.m.Init(ctx, 10, 5)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(shares))
	for _, s := range shares {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.m.Unseal(ctx, s); err != nil {
				errs <- err
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.m.Status(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if f.b.Sealed() {
		t.Fatal("still sealed after all shares")
	}
}

func TestDecodeShare(t *testing.T) {
	share := make([]byte, 33)
	_, _ = rand.Read(share)
	key := share[:32]
	cases := map[string]struct {
		in   string
		want []byte
		err  error
	}{
		"hex share":     {hex.EncodeToString(share), share, nil},
		"hex key":       {hex.EncodeToString(key), key, nil},
		"base64 share":  {base64.StdEncoding.EncodeToString(share), share, nil},
		"base64 key":    {base64.StdEncoding.EncodeToString(key), key, nil},
		"padded":        {"  " + hex.EncodeToString(share) + "\n", share, nil},
		"upper hex":     {strings.ToUpper(hex.EncodeToString(share)), share, nil},
		"garbage":       {"not a key", nil, seal.ErrInvalidShare},
		"empty":         {"", nil, seal.ErrInvalidShare},
		"short hex":     {"abcd", nil, seal.ErrInvalidShare},
		"hex of 40":     {strings.Repeat("ab", 40), nil, seal.ErrInvalidShare},
		"base64 of 10":  {base64.StdEncoding.EncodeToString(make([]byte, 10)), nil, seal.ErrInvalidShare},
		"base64 no pad": {base64.RawStdEncoding.EncodeToString(share[:32]), nil, seal.ErrInvalidShare},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := seal.DecodeShare(tc.in)
			if !errors.Is(err, tc.err) || !bytes.Equal(got, tc.want) {
				t.Fatalf("DecodeShare = %x, %v; want %x, %v", got, err, tc.want, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), tc.in) && tc.in != "" {
				t.Fatal("error message echoes the input")
			}
		})
	}
}

func FuzzDecodeShare(f *testing.F) {
	f.Add(strings.Repeat("ab", 33))
	f.Add(base64.StdEncoding.EncodeToString(make([]byte, 32)))
	f.Add("")
	f.Add("====")
	f.Add(" \t\n")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := seal.DecodeShare(s)
		if err == nil && len(b) != seal.KeySize && len(b) != seal.KeySize+1 {
			t.Fatalf("decoded %d bytes", len(b))
		}
	})
}
