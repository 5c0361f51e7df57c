package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The ALPN protocols of the cluster port.
const (
	// ProtoRaft carries hashicorp/raft's RPCs (see Layer.RaftStream).
	ProtoRaft = "coffer_raft_v1"
	// ProtoForward is reserved for standbys forwarding client requests to
	// the active node; whoever serves it takes Layer.Listen(ProtoForward).
	ProtoForward = "coffer_req_fw_v1"
)

// handshakeTimeout bounds an inbound TLS handshake, so that a peer that
// connects and says nothing holds no goroutine for long.
const handshakeTimeout = 10 * time.Second

// Layer is one node's cluster port. It is safe for concurrent use.
type Layer struct {
	ln        net.Listener
	advertise string
	logger    *slog.Logger
	tls       atomic.Pointer[material]

	mu     sync.Mutex
	protos map[string]*protoListener
	closed bool
	done   chan struct{}
}

// Listen opens the cluster port on addr (host:port) and starts accepting.
// advertise is the address other nodes dial to reach this one (the
// configured cluster_addr); empty means the listener's own address.
// Connections are refused in the handshake until SetKeyring.
func Listen(addr, advertise string, logger *slog.Logger) (*Layer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on cluster address %s: %w", addr, err)
	}
	return Serve(ln, advertise, logger), nil
}

// Serve is Listen over a listener the caller opened; the Layer owns it.
func Serve(ln net.Listener, advertise string, logger *slog.Logger) *Layer {
	if advertise == "" {
		advertise = ln.Addr().String()
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Layer{ln: ln, advertise: advertise, logger: logger.With("component", "cluster"),
		protos: map[string]*protoListener{}, done: make(chan struct{})}
	go l.accept()
	return l
}

// Addr is the address other nodes use to reach this one.
func (l *Layer) Addr() string { return l.advertise }

// ListenAddr is the address the port is bound to.
func (l *Layer) ListenAddr() net.Addr { return l.ln.Addr() }

// SetKeyring installs the cluster's TLS identity; from then on members are
// accepted and can be dialled. It may be called again with the same or a
// new keyring.
func (l *Layer) SetKeyring(k *Keyring) error {
	m, err := k.parse()
	if err != nil {
		return err
	}
	l.tls.Store(m)
	return nil
}

// Ready reports whether SetKeyring has been called.
func (l *Layer) Ready() bool { return l.tls.Load() != nil }

// Listen returns the listener that receives the connections negotiated
// with proto. Calling it again for the same proto returns the same
// listener until that listener is closed.
func (l *Layer) Listen(proto string) net.Listener {
	l.mu.Lock()
	defer l.mu.Unlock()
	if pl, ok := l.protos[proto]; ok && !pl.isClosed() {
		return pl
	}
	pl := &protoListener{layer: l, proto: proto, conns: make(chan net.Conn), closed: make(chan struct{})}
	l.protos[proto] = pl
	return pl
}

// Dial connects to the member at addr with proto, presenting the cluster
// certificate and accepting only a peer that presents it too.
func (l *Layer) Dial(ctx context.Context, addr, proto string) (*tls.Conn, error) {
	m := l.tls.Load()
	if m == nil {
		return nil, ErrNoKeyring
	}
	d := &tls.Dialer{Config: m.clientConfig(proto)}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial cluster member %s: %w", addr, err)
	}
	tc := c.(*tls.Conn)
	if tc.ConnectionState().NegotiatedProtocol != proto {
		_ = tc.Close()
		return nil, fmt.Errorf("cluster member %s does not serve %s", addr, proto)
	}
	return tc, nil
}

// Close stops the port and every protocol listener.
func (l *Layer) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	pls := make([]*protoListener, 0, len(l.protos))
	for _, pl := range l.protos {
		pls = append(pls, pl)
	}
	l.mu.Unlock()
	for _, pl := range pls {
		_ = pl.Close()
	}
	return l.ln.Close()
}

func (l *Layer) accept() {
	var delay time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or the like: back off as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.logger.Warn("accept on the cluster port failed", "error", err.Error())
			time.Sleep(delay)
			continue
		}
		delay = 0
		go l.handshake(c)
	}
}

// handshake runs the server side of mutual TLS and hands the connection to
// the listener of its protocol.
func (l *Layer) handshake(c net.Conn) {
	tc := tls.Server(c, &tls.Config{MinVersion: tls.VersionTLS13, GetConfigForClient: l.serverConfig})
	_ = tc.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tc.Handshake(); err != nil {
		l.logger.Debug("cluster handshake refused", "remote", c.RemoteAddr().String(), "error", err.Error())
		_ = c.Close()
		return
	}
	_ = tc.SetDeadline(time.Time{})
	proto := tc.ConnectionState().NegotiatedProtocol
	l.mu.Lock()
	pl := l.protos[proto]
	l.mu.Unlock()
	if pl == nil || !pl.deliver(tc) {
		_ = tc.Close()
	}
}

func (l *Layer) serverConfig(*tls.ClientHelloInfo) (*tls.Config, error) {
	m := l.tls.Load()
	if m == nil {
		return nil, ErrNoKeyring
	}
	l.mu.Lock()
	protos := make([]string, 0, len(l.protos))
	for p, pl := range l.protos {
		if !pl.isClosed() {
			protos = append(protos, p)
		}
	}
	l.mu.Unlock()
	slices.Sort(protos)
	return m.serverConfig(protos), nil
}

// protoListener is the net.Listener of one ALPN protocol.
type protoListener struct {
	layer  *Layer
	proto  string
	conns  chan net.Conn
	once   sync.Once
	closed chan struct{}
}

func (p *protoListener) deliver(c net.Conn) bool {
	select {
	case p.conns <- c:
		return true
	case <-p.closed:
		return false
	case <-time.After(handshakeTimeout):
		return false // nobody accepts: the serving side is stuck or gone
	}
}

func (p *protoListener) isClosed() bool {
	select {
	case <-p.closed:
		return true
	default:
		return false
	}
}

// Accept waits for the next connection of this protocol.
func (p *protoListener) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.closed:
		return nil, ErrClosed
	}
}

// Close stops this protocol; the cluster port stays open for the others.
func (p *protoListener) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

// Addr is the cluster address other nodes dial.
func (p *protoListener) Addr() net.Addr { return advertised(p.layer.advertise) }

// advertised is an address as configured, which may be a host name.
type advertised string

func (a advertised) Network() string { return "tcp" }
func (a advertised) String() string  { return string(a) }
