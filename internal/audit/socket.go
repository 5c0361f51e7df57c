package audit

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// newSocketSink returns a device writing each line to a TCP, UDP or unix
// socket, connecting on first use and again after a failure.
func newSocketSink(o options) (sink, error) {
	addr := o["address"]
	if addr == "" {
		return nil, fmt.Errorf("%w: option \"address\" is required (host:port, or a unix socket's path)", ErrInvalidConfig)
	}
	network := o["socket_type"]
	switch network {
	case "":
		network = "tcp"
	case "tcp", "udp", "unix":
	default:
		return nil, fmt.Errorf("%w: option \"socket_type\" must be tcp, udp or unix, not %q", ErrInvalidConfig, network)
	}
	timeout, err := o.duration("write_timeout", 2*time.Second)
	if err != nil {
		return nil, err
	}
	return &socketSink{network: network, address: addr, timeout: timeout}, nil
}

// socketSink writes one line at a time: a stream socket must not carry two
// lines interleaved.
type socketSink struct {
	network, address string
	timeout          time.Duration

	mu   sync.Mutex
	conn net.Conn
}

func (s *socketSink) Write(ctx context.Context, line []byte) error {
	msg := append(line[:len(line):len(line)], '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.write(ctx, msg)
	if err != nil {
		// One more try on a fresh connection: the receiver may have
		// restarted since the last line.
		s.drop()
		err = s.write(ctx, msg)
	}
	if err != nil {
		s.drop()
		return fmt.Errorf("audit socket %s %s: %w", s.network, s.address, err)
	}
	return nil
}

func (s *socketSink) write(ctx context.Context, msg []byte) error {
	if s.conn == nil {
		d := net.Dialer{Timeout: s.timeout}
		c, err := d.DialContext(ctx, s.network, s.address)
		if err != nil {
			return err
		}
		s.conn = c
	}
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil {
		return err
	}
	_, err := s.conn.Write(msg)
	return err
}

func (s *socketSink) drop() {
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
}

// Reopen drops the connection; the next line makes a new one.
func (s *socketSink) Reopen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop()
	return nil
}

func (s *socketSink) Close() error { return s.Reopen() }
