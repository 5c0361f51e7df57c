package system

import (
	"bytes"
	"context"
	"runtime/pprof"
	"runtime/trace"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// pprofSudoPaths are the profiling paths; all need sudo, as in Vault: a
// profile shows what the server is doing (and the heap profile where its
// memory is), never the contents of memory, but it costs CPU to take.
var pprofSudoPaths = []string{"pprof", "pprof/*"}

// maxProfileSeconds bounds how long one CPU profile or trace may run.
const maxProfileSeconds = 300

// namedProfiles are the runtime's profiles served by name, as net/http/pprof
// serves them; "profile" (CPU) and "trace" are timed and handled apart.
var namedProfiles = []string{"allocs", "block", "goroutine", "heap", "mutex", "threadcreate"}

func (b *backend) pprofPaths() []*framework.Path {
	seconds := map[string]*framework.FieldSchema{
		"seconds": {Type: framework.TypeInt, Default: 30, Description: "How long to profile, 1 to 300 seconds."},
	}
	paths := []*framework.Path{
		{
			Pattern:    "pprof/?",
			Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.pprofIndex},
			Help:       "The profiles sys/pprof/<name> serves.",
		},
		{
			Pattern:    "pprof/profile",
			Fields:     seconds,
			Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.pprofTimed(cpuProfile)},
			Help:       "A CPU profile of the server over the given seconds, in pprof's format.",
		},
		{
			Pattern:    "pprof/trace",
			Fields:     seconds,
			Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.pprofTimed(execTrace)},
			Help:       "An execution trace of the server over the given seconds (go tool trace).",
		},
	}
	for _, name := range namedProfiles {
		paths = append(paths, &framework.Path{
			Pattern: "pprof/" + name,
			Fields: map[string]*framework.FieldSchema{
				"debug": {Type: framework.TypeInt, Description: "0 for pprof's binary format (the default), 1 or 2 for text."},
			},
			Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.pprofNamed(name)},
			Help:       "The runtime's " + name + " profile, as net/http/pprof serves it.",
		})
	}
	return paths
}

func (b *backend) pprofIndex(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
	return &logical.Response{Data: map[string]any{"profiles": append([]string{"profile", "trace"}, namedProfiles...)}}, nil
}

func (b *backend) pprofNamed(name string) framework.OperationFunc {
	return func(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		debug := d.Int("debug")
		if debug < 0 || debug > 2 {
			return nil, logical.InvalidRequest("debug must be 0, 1 or 2")
		}
		var buf bytes.Buffer
		if err := pprof.Lookup(name).WriteTo(&buf, debug); err != nil {
			return nil, err
		}
		return rawProfile(buf.Bytes(), debug > 0), nil
	}
}

// A timed profile runs from start until stop; only one of each kind may
// run at a time in a process, which start reports as an error.
type timedProfile struct {
	start func(*bytes.Buffer) error
	stop  func()
}

var (
	cpuProfile = timedProfile{start: func(b *bytes.Buffer) error { return pprof.StartCPUProfile(b) }, stop: pprof.StopCPUProfile}
	execTrace  = timedProfile{start: func(b *bytes.Buffer) error { return trace.Start(b) }, stop: trace.Stop}
)

func (b *backend) pprofTimed(p timedProfile) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		secs := d.Int("seconds")
		if secs < 1 || secs > maxProfileSeconds {
			return nil, logical.InvalidRequest("seconds must be between 1 and %d", maxProfileSeconds)
		}
		var buf bytes.Buffer
		if err := p.start(&buf); err != nil {
			// Another profile of this kind is running (the runtime allows one).
			return nil, logical.InvalidRequest("cannot start profiling: %s", err.Error())
		}
		t := time.NewTimer(time.Duration(secs) * time.Second)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		p.stop()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return rawProfile(buf.Bytes(), false), nil
	}
}

func rawProfile(body []byte, text bool) *logical.Response {
	ct := "application/octet-stream"
	if text {
		ct = "text/plain; charset=utf-8"
	}
	return &logical.Response{Raw: logical.RawBody{ContentType: ct, Body: body}}
}
