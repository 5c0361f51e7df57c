package seal_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/roottoken"
	"github.com/cofferhq/coffer/internal/seal"
)

// issuer is a fake token store: it hands out token and counts the mints
// and the undos.
type issuer struct {
	token        string
	minted, undo int
}

func (i *issuer) issue(context.Context) (string, func(), error) {
	i.minted++
	return i.token, func() { i.undo++ }, nil
}

const fakeRoot = "s.AbCdEfGhIjKlMnOpQrStUvWx"

func TestGenerateRoot(t *testing.T) {
	cases := map[string]struct {
		n, t int
		otp  string
	}{
		"server OTP, 3 of 5":   {5, 3, ""},
		"client OTP, 2 of 3":   {3, 2, "01234567890123456789012345"},
		"server OTP, 1 of 1":   {1, 1, ""},
		"client OTP, 5 of 5":   {5, 5, "zyxwvutsrqponmlkjihgfedcba"},
		"server OTP, 2 of 255": {255, 2, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f, shares := unsealedFixture(t, inmem.New(), tc.n, tc.t)
			st, err := f.m.GenerateRootStatus(ctx)
			if err != nil || st.Started || st.Required != tc.t || st.OTPLength != roottoken.OTPLength {
				t.Fatalf("status before = %+v, %v", st, err)
			}
			st, err = f.m.GenerateRootInit(ctx, tc.otp)
			if err != nil {
				t.Fatal(err)
			}
			otp := tc.otp
			if otp == "" {
				otp = st.OTP
				if len(otp) != roottoken.OTPLength {
					t.Fatalf("generated OTP %q", otp)
				}
			} else if st.OTP != "" {
				t.Fatal("a client-supplied OTP was echoed back")
			}
			if !st.Started || st.Nonce == "" || st.Progress != 0 {
				t.Fatalf("status after init = %+v", st)
			}
			if again, _ := f.m.GenerateRootStatus(ctx); again.OTP != "" || again.Nonce != st.Nonce || !again.Started {
				t.Fatalf("a later status = %+v: must not show the OTP", again)
			}
			is := &issuer{token: fakeRoot}
			use := shares[len(shares)-tc.t:]
			for i, s := range use {
				up, err := f.m.GenerateRootUpdate(ctx, s, st.Nonce, is.issue)
				if err != nil {
					t.Fatalf("share %d: %v", i, err)
				}
				last := i == tc.t-1
				if up.Complete != last || up.Progress != i+1 || up.Required != tc.t || (up.EncodedToken != "") != last {
					t.Fatalf("after share %d status = %+v", i, up)
				}
				if last {
					tok, err := roottoken.Decode(up.EncodedToken, otp)
					if err != nil || tok != fakeRoot {
						t.Fatalf("decoded %q, %v", tok, err)
					}
				}
			}
			if is.minted != 1 || is.undo != 0 {
				t.Fatalf("minted %d, undone %d", is.minted, is.undo)
			}
			if st, _ := f.m.GenerateRootStatus(ctx); st.Started {
				t.Fatal("the generation is still in progress after completing")
			}
		})
	}
}

func TestGenerateRootErrors(t *testing.T) {
	ctx := context.Background()
	f, shares := unsealedFixture(t, inmem.New(), 3, 2)
	_, foreign := unsealedFixture(t, inmem.New(), 3, 2)
	is := &issuer{token: fakeRoot}
	if _, err := f.m.GenerateRootUpdate(ctx, shares[0], "x", is.issue); !errors.Is(err, seal.ErrNoRootGen) {
		t.Fatalf("update without init = %v", err)
	}
	if _, err := f.m.GenerateRootInit(ctx, "short"); !errors.Is(err, seal.ErrOTPLength) {
		t.Fatalf("short OTP = %v", err)
	}
	st, err := f.m.GenerateRootInit(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.GenerateRootInit(ctx, ""); !errors.Is(err, seal.ErrRootGenInProgress) {
		t.Fatalf("second init = %v", err)
	}
	if _, err := f.m.GenerateRootUpdate(ctx, shares[0], "wrong", is.issue); err == nil || !strings.Contains(err.Error(), st.Nonce) {
		t.Fatalf("wrong nonce = %v", err)
	}
	if _, err := f.m.GenerateRootUpdate(ctx, shares[0][:5], st.Nonce, is.issue); !errors.Is(err, seal.ErrInvalidShare) {
		t.Fatalf("short share = %v", err)
	}
	if _, err := f.m.GenerateRootUpdate(ctx, foreign[0], st.Nonce, is.issue); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.GenerateRootUpdate(ctx, foreign[0], st.Nonce, is.issue); !errors.Is(err, seal.ErrDuplicateShareGiven) {
		t.Fatalf("duplicate = %v", err)
	}
	if _, err := f.m.GenerateRootUpdate(ctx, foreign[1], st.Nonce, is.issue); !errors.Is(err, seal.ErrRootGenKey) {
		t.Fatalf("foreign shares = %v", err)
	}
	if is.minted != 0 {
		t.Fatal("a token was minted for the wrong shares")
	}
	if got, _ := f.m.GenerateRootStatus(ctx); !got.Started || got.Progress != 0 || got.Nonce != st.Nonce {
		t.Fatalf("status after wrong shares = %+v", got)
	}
	// A token that does not fit the OTP is revoked, not handed out.
	odd := &issuer{token: "s.too-short"}
	if _, err := f.m.GenerateRootUpdate(ctx, shares[0], st.Nonce, odd.issue); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.GenerateRootUpdate(ctx, shares[1], st.Nonce, odd.issue); err == nil || odd.undo != 1 {
		t.Fatalf("unencodable token: err %v, undone %d", err, odd.undo)
	}
	failing := func(context.Context) (string, func(), error) { return "", nil, errors.New("store down") }
	if _, err := f.m.GenerateRootUpdate(ctx, shares[0], st.Nonce, failing); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.GenerateRootUpdate(ctx, shares[1], st.Nonce, failing); err == nil {
		t.Fatal("a failing issuer went unreported")
	}
	if err := f.m.GenerateRootCancel(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.m.GenerateRootStatus(ctx); got.Started {
		t.Fatal("cancel left the generation running")
	}
}

func TestGenerateRootSealedAndStatic(t *testing.T) {
	ctx := context.Background()
	f, shares := unsealedFixture(t, inmem.New(), 3, 2)
	st, _ := f.m.GenerateRootInit(ctx, "")
	is := &issuer{token: fakeRoot}
	if _, err := f.m.GenerateRootUpdate(ctx, shares[0], st.Nonce, is.issue); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"status": func() error { _, err := f.m.GenerateRootStatus(ctx); return err },
		"init":   func() error { _, err := f.m.GenerateRootInit(ctx, ""); return err },
		"update": func() error { _, err := f.m.GenerateRootUpdate(ctx, shares[1], st.Nonce, is.issue); return err },
		"cancel": func() error { return f.m.GenerateRootCancel(ctx) },
	} {
		if err := call(); !errors.Is(err, logical.ErrSealed) {
			t.Fatalf("%s while sealed = %v", name, err)
		}
	}
	unsealWith(t, f.m, shares[:2])
	if got, _ := f.m.GenerateRootStatus(ctx); got.Started {
		t.Fatal("a root generation survived a seal")
	}
	if is.minted != 0 {
		t.Fatal("minted while sealed")
	}

	s := newFixture()
	key := bytes.Repeat([]byte{9}, seal.KeySize)
	if err := s.m.InitWithKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := s.m.AutoUnseal(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.m.GenerateRootInit(ctx, ""); !errors.Is(err, seal.ErrStaticRootGen) {
		t.Fatalf("static seal = %v", err)
	}
}
