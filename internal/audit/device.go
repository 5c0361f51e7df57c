package audit

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Config is one audit device as enabled, and as the sys/audit listing
// shows it. Its salt and chain key are kept apart, in the barrier.
type Config struct {
	// Path is where the device is enabled, ending in "/" ("file/").
	Path        string            `json:"path"`
	Type        string            `json:"type"`
	Description string            `json:"description"`
	Options     map[string]string `json:"options"`
	Local       bool              `json:"local"`
	// Declared marks a device from the server configuration: the API
	// can neither disable nor replace it.
	Declared bool `json:"declared,omitempty"`
	// UUID names the device's keys in storage.
	UUID string `json:"uuid"`
}

// sink is where a device's lines go. Write must be safe for concurrent
// use and return only once the line is recorded (or failed), and must not
// keep line once it returns (the caller reuses it); Reopen opens files
// again (log rotation), Close flushes and releases.
type sink interface {
	Write(ctx context.Context, line []byte) error
	Reopen() error
	Close() error
}

// The options every device type understands.
var commonOptions = []string{"format", "prefix", "hmac_accessor", "log_raw", "elide_list_responses"}

// typeOptions are the options of each device type, beyond commonOptions.
var typeOptions = map[string][]string{
	"file":   {"file_path", "path", "mode", "hash_chain", "checkpoint_interval", "fsync_interval"},
	"socket": {"address", "socket_type", "write_timeout"},
	"syslog": {"facility", "tag", "address", "socket_type"},
}

// Types are the device types Enable accepts.
func Types() []string { return []string{"file", "socket", "syslog"} }

// options reads a device's options, refusing unknown ones.
type options map[string]string

func checkOptions(typ string, o map[string]string) error {
	known, ok := typeOptions[typ]
	if !ok {
		return fmt.Errorf("%w: unknown audit device type %q (supported: %s)", ErrInvalidConfig, typ, strings.Join(Types(), ", "))
	}
	for k := range o {
		if !contains(known, k) && !contains(commonOptions, k) {
			return fmt.Errorf("%w: unknown option %q for a %s device (supported: %s, %s)", ErrInvalidConfig, k, typ,
				strings.Join(commonOptions, ", "), strings.Join(known, ", "))
		}
	}
	if f, ok := o["format"]; ok && f != "json" {
		return fmt.Errorf("%w: format %q is not supported: use json", ErrInvalidConfig, f)
	}
	return nil
}

func (o options) bool(name string, def bool) (bool, error) {
	v, ok := o[name]
	if !ok || v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%w: option %q must be true or false, not %q", ErrInvalidConfig, name, v)
	}
	return b, nil
}

func (o options) duration(name string, def time.Duration) (time.Duration, error) {
	v, ok := o[name]
	if !ok || v == "" {
		return def, nil
	}
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%w: option %q must be a positive duration such as 2s, not %q", ErrInvalidConfig, name, v)
	}
	return d, nil
}

// newFormatter reads the common options.
func newFormatter(o options, salt *Salt) (*formatter, error) {
	f := &formatter{salt: salt, prefix: o["prefix"]}
	var err error
	if f.hmacAccessor, err = o.bool("hmac_accessor", true); err != nil {
		return nil, err
	}
	if f.logRaw, err = o.bool("log_raw", false); err != nil {
		return nil, err
	}
	if f.elideList, err = o.bool("elide_list_responses", false); err != nil {
		return nil, err
	}
	return f, nil
}

// keys are a device's secrets, stored in the barrier: the salt of its
// HMACs and the key of its hash chain.
type keys struct {
	Salt     []byte `json:"salt"`
	ChainKey []byte `json:"chain_key"`
}

// device is one enabled audit device.
type device struct {
	conf Config
	salt *Salt
	fmt  *formatter
	sink sink
	// failures counts the entries the device failed to record.
	failures atomic.Uint64
}

// newDevice opens the device conf describes.
func newDevice(conf Config, k keys, hooks sinkHooks) (*device, error) {
	if err := checkOptions(conf.Type, conf.Options); err != nil {
		return nil, err
	}
	o := options(conf.Options)
	salt := NewSalt(k.Salt)
	f, err := newFormatter(o, salt)
	if err != nil {
		return nil, err
	}
	var s sink
	switch conf.Type {
	case "file":
		s, err = newFileSink(o, k.ChainKey, hooks)
	case "socket":
		s, err = newSocketSink(o)
	case "syslog":
		s, err = newSyslogSink(o)
	}
	if err != nil {
		return nil, err
	}
	return &device{conf: conf, salt: salt, fmt: f, sink: s}, nil
}

// sinkHooks are what a sink reports to its broker.
type sinkHooks struct {
	// failed hears of a failure that no request saw (a background fsync).
	failed func(err error)
	// loadMark and saveMark read and record where a chained file's
	// chain stands (see chainMark); nil in tests that need no mark.
	loadMark func() (chainMark, bool)
	saveMark func(chainMark)
}
