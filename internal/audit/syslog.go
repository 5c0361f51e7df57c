//go:build !windows && !plan9

package audit

import (
	"context"
	"fmt"
	"log/syslog"
	"strings"
	"sync"
)

var facilities = map[string]syslog.Priority{
	"kern": syslog.LOG_KERN, "user": syslog.LOG_USER, "mail": syslog.LOG_MAIL, "daemon": syslog.LOG_DAEMON,
	"auth": syslog.LOG_AUTH, "syslog": syslog.LOG_SYSLOG, "lpr": syslog.LOG_LPR, "news": syslog.LOG_NEWS,
	"uucp": syslog.LOG_UUCP, "cron": syslog.LOG_CRON, "authpriv": syslog.LOG_AUTHPRIV, "ftp": syslog.LOG_FTP,
	"local0": syslog.LOG_LOCAL0, "local1": syslog.LOG_LOCAL1, "local2": syslog.LOG_LOCAL2, "local3": syslog.LOG_LOCAL3,
	"local4": syslog.LOG_LOCAL4, "local5": syslog.LOG_LOCAL5, "local6": syslog.LOG_LOCAL6, "local7": syslog.LOG_LOCAL7,
}

// newSyslogSink returns a device writing to the local syslog daemon, or
// to the one at address (socket_type udp, tcp, unix or unixgram), at
// priority info of the facility (default AUTH) with the tag (default
// "coffer").
func newSyslogSink(o options) (sink, error) {
	fac := strings.ToLower(o["facility"])
	if fac == "" {
		fac = "auth"
	}
	p, ok := facilities[fac]
	if !ok {
		return nil, fmt.Errorf("%w: unknown syslog facility %q", ErrInvalidConfig, o["facility"])
	}
	tag := o["tag"]
	if tag == "" {
		tag = "coffer"
	}
	network, addr := o["socket_type"], o["address"]
	if addr != "" && network == "" {
		network = "udp"
	}
	switch network {
	case "", "udp", "tcp", "unix", "unixgram":
	default:
		return nil, fmt.Errorf("%w: syslog socket_type must be udp, tcp, unix or unixgram, not %q", ErrInvalidConfig, network)
	}
	w, err := syslog.Dial(network, addr, p|syslog.LOG_INFO, tag)
	if err != nil {
		return nil, fmt.Errorf("%w: connect to syslog: %v", ErrInvalidConfig, err)
	}
	return &syslogSink{w: w}, nil
}

type syslogSink struct {
	mu sync.Mutex
	w  *syslog.Writer
}

func (s *syslogSink) Write(_ context.Context, line []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Info(string(line))
}

func (s *syslogSink) Reopen() error { return nil }
func (s *syslogSink) Close() error  { return s.w.Close() }
