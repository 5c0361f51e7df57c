package audit

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/telemetry"
)

// Storage keys, inside the view the broker is given.
const (
	tableKey   = "table"
	keysPrefix = "keys/"
)

// BrokerConfig is what Open needs.
type BrokerConfig struct {
	// Storage is a barrier view that only the broker uses: the device
	// table and each device's keys live there.
	Storage logical.Storage
	Logger  *slog.Logger
	// Declared are the devices of the server configuration: enabled
	// when missing, made to match when changed, removed when no longer
	// declared. The API cannot disable or replace them.
	Declared []Config
	// DisableAPI forbids enabling and disabling devices through the API.
	DisableAPI bool
}

// Broker holds the enabled audit devices and records every request and
// response on each of them. Its methods are safe for concurrent use; the
// logging methods take no lock (the device list is copied on change).
type Broker struct {
	storage    logical.Storage
	logger     *slog.Logger
	disableAPI bool

	mu      sync.Mutex // serialises changes to the table and the headers
	table   []Config
	devices atomic.Pointer[[]*device]
	headers atomic.Pointer[HeaderConfig]
}

// Open loads the device table from storage, applies the declared devices
// and opens every device. A device that cannot be opened stays in the
// table and fails every write (so requests are refused when it is the only
// one), and is tried again by Reopen.
func Open(ctx context.Context, conf BrokerConfig) (*Broker, error) {
	if conf.Logger == nil {
		conf.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Broker{storage: conf.Storage, logger: conf.Logger, disableAPI: conf.DisableAPI}
	b.devices.Store(&[]*device{})
	if _, err := logical.GetJSON(ctx, b.storage, tableKey, &b.table); err != nil {
		return nil, fmt.Errorf("read the audit device table: %w", err)
	}
	if err := b.loadHeaders(ctx); err != nil {
		return nil, err
	}
	changed, err := b.applyDeclared(ctx, conf.Declared)
	if err != nil {
		return nil, err
	}
	if changed {
		if err := logical.PutJSON(ctx, b.storage, tableKey, b.table); err != nil {
			return nil, fmt.Errorf("write the audit device table: %w", err)
		}
	}
	devs := make([]*device, 0, len(b.table))
	for _, c := range b.table {
		devs = append(devs, b.openDevice(ctx, c))
	}
	b.devices.Store(&devs)
	return b, nil
}

// applyDeclared brings the table in line with the declared devices.
func (b *Broker) applyDeclared(ctx context.Context, declared []Config) (bool, error) {
	changed := false
	want := map[string]bool{}
	for _, d := range declared {
		d.Path, d.Declared = normalizePath(d.Path), true
		want[d.Path] = true
		i := slices.IndexFunc(b.table, func(c Config) bool { return c.Path == d.Path })
		switch {
		case i < 0:
			if err := b.newKeys(ctx, &d); err != nil {
				return false, err
			}
			b.table = append(b.table, d)
			changed = true
		case !b.table[i].Declared:
			b.logger.Error("an audit device declared in the configuration has the path of one enabled through the API; the declared one is ignored until that one is disabled", "path", d.Path)
		default:
			d.UUID = b.table[i].UUID
			b.table[i], changed = d, true
		}
	}
	kept := b.table[:0]
	for _, c := range b.table {
		if c.Declared && !want[c.Path] {
			changed = true
			_ = b.storage.Delete(ctx, keysPrefix+c.UUID)
			_ = b.storage.Delete(ctx, chainPrefix+c.UUID)
			b.logger.Info("audit device no longer declared in the configuration: disabled", "path", c.Path)
			continue
		}
		kept = append(kept, c)
	}
	b.table = kept
	return changed, nil
}

// newKeys gives c a UUID and stores fresh keys for it.
func (b *Broker) newKeys(ctx context.Context, c *Config) error {
	k := keys{Salt: make([]byte, 32), ChainKey: make([]byte, 32)}
	id := make([]byte, 16)
	for _, p := range [][]byte{k.Salt, k.ChainKey, id} {
		if _, err := rand.Read(p); err != nil {
			return err
		}
	}
	c.UUID = fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:])
	if err := logical.PutJSON(ctx, b.storage, keysPrefix+c.UUID, k); err != nil {
		return fmt.Errorf("store audit device keys: %w", err)
	}
	return nil
}

func (b *Broker) keys(ctx context.Context, c Config) (keys, error) {
	var k keys
	found, err := logical.GetJSON(ctx, b.storage, keysPrefix+c.UUID, &k)
	if err == nil && !found {
		err = fmt.Errorf("the keys of audit device %s are missing", c.Path)
	}
	return k, err
}

// openDevice opens c, or returns a device that fails every write.
func (b *Broker) openDevice(ctx context.Context, c Config) *device {
	k, err := b.keys(ctx, c)
	if err == nil {
		var d *device
		if d, err = newDevice(c, k, b.hooks(c)); err == nil {
			return d
		}
	}
	b.logger.Error("audit device could not be opened; it fails every request until a SIGHUP opens it", "path", c.Path, "type", c.Type, "error", err.Error())
	return &device{conf: c, salt: NewSalt(k.Salt), fmt: &formatter{salt: NewSalt(k.Salt)}, sink: brokenSink{err: err}}
}

func (b *Broker) hooks(c Config) sinkHooks {
	load, save := b.markHooks(c)
	return sinkHooks{failed: func(err error) {
		b.logger.Error("audit device failed", "path", c.Path, "type", c.Type, "error", err.Error())
	}, loadMark: load, saveMark: save}
}

// sameFile returns the path of a file device in table writing where c
// would.
func sameFile(table []Config, c Config) (string, bool) {
	file := func(c Config) string {
		if c.Type != "file" {
			return ""
		}
		if p := c.Options["file_path"]; p != "" {
			return filepath.Clean(p)
		}
		return filepath.Clean(c.Options["path"])
	}
	f := file(c)
	if f == "" || f == "." || f == "stdout" || f == "discard" {
		return "", false
	}
	for _, e := range table {
		if file(e) == f {
			return e.Path, true
		}
	}
	return "", false
}

func normalizePath(p string) string { return strings.Trim(p, "/") + "/" }

// List returns the enabled devices in the order they were enabled.
func (b *Broker) List() []Config {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.table)
}

// Enable opens and records a new device at c.Path. A bad configuration or
// a path in use is an ErrInvalidConfig error; a server that forbids it
// answers ErrAPIDisabled.
func (b *Broker) Enable(ctx context.Context, c Config) error {
	if b.disableAPI {
		return fmt.Errorf("%w: this server's configuration forbids enabling audit devices through the API (disable_api_audit_creation)", ErrAPIDisabled)
	}
	c.Path, c.Declared = normalizePath(c.Path), false
	if c.Path == "/" {
		return fmt.Errorf("%w: the path is empty", ErrInvalidConfig)
	}
	if err := checkOptions(c.Type, c.Options); err != nil {
		return err
	}
	if c.Type == "file" && c.Options["prefix"] != "" {
		// Chosen text at the start of every line of any file the server
		// can write (a shell profile, a cron table) is a way from a sudo
		// token to the host: the configuration alone may set it.
		return fmt.Errorf("%w: option \"prefix\" of a file device can only be set in the server configuration (an audit block)", ErrInvalidConfig)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if slices.ContainsFunc(b.table, func(e Config) bool { return e.Path == c.Path }) {
		return fmt.Errorf("%w: path %q is already in use", ErrInvalidConfig, c.Path)
	}
	if other, ok := sameFile(b.table, c); ok {
		return fmt.Errorf("%w: the device at %q already writes to that file; two chains in one file cannot be verified", ErrInvalidConfig, other)
	}
	if err := b.newKeys(ctx, &c); err != nil {
		return err
	}
	k, err := b.keys(ctx, c)
	if err != nil {
		return err
	}
	d, err := newDevice(c, k, b.hooks(c))
	if err != nil {
		_ = b.storage.Delete(ctx, keysPrefix+c.UUID)
		return err
	}
	table := append(slices.Clone(b.table), c)
	if err := logical.PutJSON(ctx, b.storage, tableKey, table); err != nil {
		_ = d.sink.Close()
		return fmt.Errorf("write the audit device table: %w", err)
	}
	b.table = table
	devs := append(slices.Clone(*b.devices.Load()), d)
	b.devices.Store(&devs)
	b.logger.Info("enabled audit device", "path", c.Path, "type", c.Type)
	return nil
}

// Disable removes the device at path and forgets its keys: what it wrote
// can no longer be hashed or verified with the server's help. A path with
// no device is not an error.
func (b *Broker) Disable(ctx context.Context, path string) error {
	path = normalizePath(path)
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.IndexFunc(b.table, func(c Config) bool { return c.Path == path })
	if i < 0 {
		return nil
	}
	if b.table[i].Declared {
		return fmt.Errorf("%w: the device at %q is declared in the server configuration; remove it there", ErrAPIDisabled, path)
	}
	if b.disableAPI {
		return fmt.Errorf("%w: this server's configuration forbids disabling audit devices through the API", ErrAPIDisabled)
	}
	gone := b.table[i]
	table := slices.Delete(slices.Clone(b.table), i, i+1)
	if err := logical.PutJSON(ctx, b.storage, tableKey, table); err != nil {
		return fmt.Errorf("write the audit device table: %w", err)
	}
	b.table = table
	var devs []*device
	for _, d := range *b.devices.Load() {
		if d.conf.Path == path {
			if err := d.sink.Close(); err != nil {
				b.logger.Error("close audit device", "path", path, "error", err.Error())
			}
			continue
		}
		devs = append(devs, d)
	}
	b.devices.Store(&devs)
	_ = b.storage.Delete(ctx, chainPrefix+gone.UUID)
	if err := b.storage.Delete(ctx, keysPrefix+gone.UUID); err != nil {
		b.logger.Error("delete the keys of a disabled audit device", "path", path, "error", err.Error())
	}
	b.logger.Info("disabled audit device", "path", path)
	return nil
}

func (b *Broker) find(path string) (*device, error) {
	path = normalizePath(path)
	for _, d := range *b.devices.Load() {
		if d.conf.Path == path {
			return d, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrNotFound, path)
}

// Hash returns input as the device at path writes it: "hmac-sha256:<hex>".
func (b *Broker) Hash(path, input string) (string, error) {
	d, err := b.find(path)
	if err != nil {
		return "", err
	}
	return d.salt.Hash(input), nil
}

// ChainKey returns the key of the hash chain of the device at path, for an
// offline `coffer audit verify`. Whoever holds it can also forge the
// chain: hand it out as carefully as a root token.
func (b *Broker) ChainKey(ctx context.Context, path string) ([]byte, error) {
	d, err := b.find(path)
	if err != nil {
		return nil, err
	}
	k, err := b.keys(ctx, d.conf)
	if err != nil {
		return nil, err
	}
	return k.ChainKey, nil
}

// LogRequest records the request line of in on every device. It succeeds
// when no device is enabled or at least one recorded the line; otherwise
// it returns ErrAllDevicesFailed and the request must not be served.
// Every device failure goes to the server log.
func (b *Broker) LogRequest(ctx context.Context, in *Input) error {
	return b.log(ctx, in, (*formatter).appendRequest, "request")
}

// LogResponse records the response line of in, with the same rule.
func (b *Broker) LogResponse(ctx context.Context, in *Input) error {
	return b.log(ctx, in, (*formatter).appendResponse, "response")
}

// lineBufs are the buffers lines are formatted into; a sink copies what
// it keeps, so a buffer is reused as soon as the line is recorded.
var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

type appendFunc func(*formatter, []byte, *Input, *HeaderConfig, time.Time) []byte

func (b *Broker) log(ctx context.Context, in *Input, format appendFunc, kind string) error {
	devs := *b.devices.Load()
	if len(devs) == 0 {
		return nil
	}
	now := time.Now()
	hdr := b.headers.Load()
	bp := lineBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<10 {
			lineBufs.Put(bp)
		}
	}()
	ok := 0
	for _, d := range devs {
		*bp = format(d.fmt, (*bp)[:0], in, hdr, now)
		if err := d.sink.Write(ctx, *bp); err != nil {
			d.failures.Add(1)
			telemetry.AuditFailure(ctx, d.conf.Type)
			b.logger.Error("audit device failed to record a "+kind, "path", d.conf.Path, "type", d.conf.Type, "request_id", in.Request.ID, "error", err.Error())
			continue
		}
		ok++
	}
	if ok == 0 {
		return ErrAllDevicesFailed
	}
	return nil
}

// Failures returns, for each enabled device path, how many entries it
// failed to record since it was opened: the figure telemetry exports.
func (b *Broker) Failures() map[string]uint64 {
	devs := *b.devices.Load()
	out := make(map[string]uint64, len(devs))
	for _, d := range devs {
		out[d.conf.Path] = d.failures.Load()
	}
	return out
}

// Enabled reports whether any device is enabled.
func (b *Broker) Enabled() bool { return len(*b.devices.Load()) > 0 }

// Reopen reopens every device (SIGHUP: log rotation) and tries again the
// ones that could not be opened.
func (b *Broker) Reopen(ctx context.Context) {
	b.mu.Lock()
	defer b.mu.Unlock()
	devs := slices.Clone(*b.devices.Load())
	for i, d := range devs {
		if _, broken := d.sink.(brokenSink); broken {
			devs[i] = b.openDevice(ctx, d.conf)
			continue
		}
		if err := d.sink.Reopen(); err != nil {
			b.logger.Error("audit device could not be reopened", "path", d.conf.Path, "error", err.Error())
		}
	}
	b.devices.Store(&devs)
}

// Close closes every device, writing what is queued.
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for _, d := range *b.devices.Load() {
		errs = append(errs, d.sink.Close())
	}
	b.devices.Store(&[]*device{})
	return errors.Join(errs...)
}

// brokenSink is a device that could not be opened.
type brokenSink struct{ err error }

func (s brokenSink) Write(context.Context, []byte) error { return s.err }
func (s brokenSink) Reopen() error                       { return s.err }
func (s brokenSink) Close() error                        { return nil }
