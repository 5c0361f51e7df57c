// Package forward carries requests from a standby to the active node over
// the cluster port (ALPN cluster.ProtoForward, mutual TLS with the
// cluster's own certificate), and the standbys' echoes that sys/ha-status
// lists. The wire format is plain HTTP/1.1 inside that TLS channel: the
// standby relays the client's request as it came (X-Forwarded-For set to
// the client) and the active node's answer goes back unchanged.
//
// It is not the cluster port itself (internal/cluster), nor the decision
// of what to forward (httpapi.Standby, httpapi.NodeLocalPaths).
package forward

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"time"

	"github.com/cofferhq/coffer/internal/cluster"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/system"
)

// echoPath is where standbys report in; it exists only on the cluster
// port, never on a client listener.
const echoPath = "/cluster/echo"

// Dialer opens a mutual-TLS connection to a cluster member with an ALPN
// protocol; *cluster.Layer implements it.
type Dialer interface {
	Dial(ctx context.Context, addr, proto string) (*tls.Conn, error)
}

// Client is a standby's side: an httpapi.Forwarder and the echo sender.
// Safe for concurrent use; connections to the active node are reused.
type Client struct {
	transport *http.Transport
	logger    *slog.Logger
}

var _ httpapi.Forwarder = (*Client)(nil)

// NewClient returns a Client dialling through d.
func NewClient(d Dialer, logger *slog.Logger) *Client {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Client{logger: logger, transport: &http.Transport{
		DialTLSContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return d.Dial(ctx, addr, cluster.ProtoForward)
		},
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 5 * time.Minute,
	}}
}

// Forward relays r to the active node's cluster address and its answer to
// w. A node that advertised no cluster address cannot be reached: 503.
func (c *Client) Forward(w http.ResponseWriter, r *http.Request, to httpapi.ActiveNode) {
	if to.ClusterAddr == "" {
		unavailable(w, errors.New("the active node advertises no cluster address"))
		return
	}
	client := clientIP(r.RemoteAddr)
	p := &httputil.ReverseProxy{
		Transport: c.transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = "https", to.ClusterAddr
			pr.Out.Host = r.Host
			// Rewrite has dropped the client's own X-Forwarded-For: the
			// listener already resolved it into RemoteAddr.
			if client != "" {
				pr.Out.Header.Set("X-Forwarded-For", client)
			}
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
				// A chunked body outgrew the listener's max_request_size
				// (httpapi cut it off): the client's mistake, not ours.
				writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("request body too large: the limit is %d bytes", mbe.Limit))
				return
			}
			c.logger.Warn("forward to the active node", "cluster_addr", to.ClusterAddr, "error", err.Error())
			unavailable(w, errors.New("could not reach the active node; retry shortly"))
		},
		ErrorLog: slog.NewLogLogger(c.logger.Handler(), slog.LevelWarn),
	}
	p.ServeHTTP(w, r)
}

// Echo tells the active node at clusterAddr that the standby self is alive.
func (c *Client) Echo(ctx context.Context, clusterAddr string, self system.HANode) error {
	body, err := json.Marshal(self)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+clusterAddr+echoPath, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.transport.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("echo to the active node: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("echo to the active node: status %d", resp.StatusCode)
	}
	return nil
}

// Close drops idle connections.
func (c *Client) Close() { c.transport.CloseIdleConnections() }

// Handler is the active node's side, to serve on the cluster port's
// forwarding listener (Layer.Listen(cluster.ProtoForward)): echoes go to
// echo, everything else to api (the same handler as the client listeners')
// with the client's address taken from the standby's X-Forwarded-For.
func Handler(api http.Handler, echo func(system.HANode)) http.Handler {
	fwd := httpapi.FromStandby(api)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != echoPath {
			fwd.ServeHTTP(w, r)
			return
		}
		var n system.HANode
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&n); err != nil {
			http.Error(w, "bad echo", http.StatusBadRequest)
			return
		}
		echo(n)
		w.WriteHeader(http.StatusNoContent)
	})
}

// Serve serves h on ln until the returned server is shut down.
func Serve(ln net.Listener, h http.Handler, logger *slog.Logger) *http.Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go func() { _ = srv.Serve(plainListener{ln}) }()
	return srv
}

// plainListener hides that its connections are *tls.Conn: net/http closes
// a TLS connection whose ALPN protocol (ours) it has no handler for. The
// cluster layer has done the handshake and checked the peer already.
type plainListener struct{ net.Listener }

type plainConn struct{ net.Conn }

func (l plainListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return plainConn{c}, nil
}

func clientIP(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.String()
	}
	return ""
}

func unavailable(w http.ResponseWriter, err error) {
	writeError(w, http.StatusServiceUnavailable, err)
}

func writeError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string][]string{"errors": {err.Error()}})
}
