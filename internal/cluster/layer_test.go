package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func newLayer(t *testing.T, k *Keyring) *Layer {
	t.Helper()
	l, err := Listen("127.0.0.1:0", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	if k != nil {
		if err := l.SetKeyring(k); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func mustKeyring(t *testing.T) *Keyring {
	t.Helper()
	k, err := NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// echo serves proto on l, answering each connection with what it reads.
func echo(t *testing.T, l *Layer, proto string) <-chan struct{} {
	ln := l.Listen(proto)
	accepted := make(chan struct{}, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return accepted
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestMembersTalkOverTheirProtocol(t *testing.T) {
	k := mustKeyring(t)
	a, b := newLayer(t, k), newLayer(t, k)
	echo(t, a, ProtoRaft)
	c, err := b.Dial(ctx(t), a.Addr(), ProtoRaft)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "ping" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	// A protocol nobody serves is refused in the handshake.
	if _, err := b.Dial(ctx(t), a.Addr(), ProtoForward); err == nil {
		t.Fatal("dial of an unserved protocol succeeded")
	}
}

func TestNonMembersAreRefused(t *testing.T) {
	k := mustKeyring(t)
	a := newLayer(t, k)
	accepted := echo(t, a, ProtoRaft)
	cases := map[string]func() error{
		"another cluster's certificate": func() error {
			_, err := newLayer(t, mustKeyring(t)).Dial(ctx(t), a.Addr(), ProtoRaft)
			return err
		},
		"no client certificate": func() error {
			m, _ := k.parse()
			cfg := m.clientConfig(ProtoRaft)
			cfg.Certificates = nil
			c, err := tls.Dial("tcp", a.Addr(), cfg)
			if err != nil {
				return err
			}
			defer c.Close()
			// TLS 1.3 reports a refused client certificate on the first read.
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, err = c.Read(make([]byte, 1))
			return err
		},
		"a sealed node dials": func() error {
			_, err := newLayer(t, nil).Dial(ctx(t), a.Addr(), ProtoRaft)
			if !errors.Is(err, ErrNoKeyring) {
				t.Errorf("sealed dial error = %v, want ErrNoKeyring", err)
			}
			return err
		},
	}
	for name, dial := range cases {
		t.Run(name, func(t *testing.T) {
			if err := dial(); err == nil {
				t.Fatal("connection accepted")
			}
		})
	}
	// The wrong server is refused by a member dialling it, too.
	other := newLayer(t, mustKeyring(t))
	echo(t, other, ProtoRaft)
	if _, err := newLayer(t, k).Dial(ctx(t), other.Addr(), ProtoRaft); err == nil {
		t.Fatal("a member accepted another cluster's server")
	}
	select {
	case <-accepted:
		t.Fatal("a refused peer reached the protocol listener")
	case <-time.After(100 * time.Millisecond):
	}
}

func TestSealedNodeRefusesHandshakes(t *testing.T) {
	k := mustKeyring(t)
	a := newLayer(t, nil)
	echo(t, a, ProtoRaft)
	b := newLayer(t, k)
	if _, err := b.Dial(ctx(t), a.Addr(), ProtoRaft); err == nil {
		t.Fatal("a node without its keyring accepted a handshake")
	}
	if err := a.SetKeyring(k); err != nil {
		t.Fatal(err)
	}
	c, err := b.Dial(ctx(t), a.Addr(), ProtoRaft)
	if err != nil {
		t.Fatalf("after SetKeyring: %v", err)
	}
	_ = c.Close()
}

func TestBadKeyringRefused(t *testing.T) {
	k, other := mustKeyring(t), mustKeyring(t)
	cases := map[string]*Keyring{
		"nil":           nil,
		"garbage":       {Cert: []byte("x"), Key: []byte("y")},
		"mismatched":    {Cert: k.Cert, Key: other.Key},
		"key not PKCS8": {Cert: k.Cert, Key: k.Cert},
	}
	l := newLayer(t, nil)
	for name, kr := range cases {
		if err := l.SetKeyring(kr); !errors.Is(err, ErrBadKeyring) {
			t.Errorf("%s: err = %v, want ErrBadKeyring", name, err)
		}
	}
	if l.Ready() {
		t.Fatal("a bad keyring made the layer ready")
	}
}

func TestClosedProtocolListener(t *testing.T) {
	l := newLayer(t, mustKeyring(t))
	ln := l.Listen(ProtoRaft)
	_ = ln.Close()
	if _, err := ln.Accept(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Accept after Close = %v", err)
	}
	if l.Listen(ProtoRaft) == ln {
		t.Fatal("a closed listener was handed out again")
	}
	var _ net.Listener = ln
}
