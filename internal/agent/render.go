package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"text/template"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/config"
)

// maxTemplateSource bounds a template file.
const maxTemplateSource = 1 << 20

// tmpl is one template block, parsed once.
type tmpl struct {
	cfg config.Template
	t   *template.Template
	// sum is the SHA-256 of what was last written (or found at the
	// destination at start); the file is rewritten only when it changes.
	sum     [32]byte
	written bool
}

// renderer renders every template from one cache of secrets. It is used by
// one goroutine at a time.
type renderer struct {
	ctx       context.Context
	client    *api.Client
	tmpls     []*tmpl
	deps      map[string]*dep
	used      map[string]bool
	mounts    []kvMount
	threshold float64
	interval  time.Duration
	log       *slog.Logger
}

func newRenderer(cfg *config.Agent, log *slog.Logger) (*renderer, error) {
	r := &renderer{
		deps: map[string]*dep{}, used: map[string]bool{},
		threshold: cfg.TemplateConfig.LeaseRenewalThreshold,
		interval:  cfg.TemplateConfig.StaticSecretRenderInterval,
		log:       log,
	}
	for _, tc := range cfg.Templates {
		t, err := r.parse(tc)
		if err != nil {
			return nil, err
		}
		r.tmpls = append(r.tmpls, t)
	}
	return r, nil
}

// parse reads and parses one template, binding the secret functions to r.
func (r *renderer) parse(tc config.Template) (*tmpl, error) {
	text := tc.Contents
	if tc.Source != "" {
		b, err := readBounded(tc.Source, maxTemplateSource)
		if err != nil {
			return nil, fmt.Errorf("template source %s: %w", tc.Source, err)
		}
		text = string(b)
	}
	missing := "missingkey=default"
	if tc.ErrorOnMissingKey {
		missing = "missingkey=error"
	}
	fm := funcs()
	fm["secret"] = func(path string, args ...string) (*api.Secret, error) {
		kind := depRead
		if len(args) > 0 {
			kind = depWrite
		}
		return r.fetch(kind, path, args)
	}
	fm["secrets"] = r.list
	t, err := template.New(tc.Destination).Delims(tc.LeftDelimiter, tc.RightDelimiter).
		Option(missing).Funcs(fm).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("template for %s (line %d of the configuration): %w", tc.Destination, tc.Line, err)
	}
	out := &tmpl{cfg: tc, t: t}
	// Only a regular file is read: opening a FIFO left at the destination
	// would block the agent before it ever logs in.
	if fi, err := os.Stat(tc.Destination); err == nil && fi.Mode().IsRegular() {
		if b, err := os.ReadFile(tc.Destination); err == nil {
			out.sum, out.written = sha256.Sum256(b), true
		}
	}
	return out, nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return os.ReadFile(path)
}

// renderAll executes every template against the cache (fetching what is
// new or stale) and writes those whose output changed. It returns the
// templates it wrote and the errors of those it could not render; a
// template that fails leaves its destination as it was.
func (r *renderer) renderAll(ctx context.Context, client *api.Client) ([]*tmpl, error) {
	r.ctx, r.client = ctx, client
	r.used = map[string]bool{}
	var changed []*tmpl
	var errs []error
	var buf bytes.Buffer
	for _, t := range r.tmpls {
		buf.Reset()
		if err := t.t.Execute(&buf, nil); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %w", ErrRender, t.cfg.Destination, unwrapExec(err)))
			continue
		}
		sum := sha256.Sum256(buf.Bytes())
		if t.written && sum == t.sum {
			continue
		}
		if err := writeFileAtomic(t.cfg.Destination, buf.Bytes(), t.cfg.Perms, t.cfg.CreateDestDirs); err != nil {
			errs = append(errs, err)
			continue
		}
		t.sum, t.written = sum, true
		changed = append(changed, t)
		r.log.Info("rendered template", "destination", t.cfg.Destination)
	}
	if len(errs) == 0 {
		for k := range r.deps {
			if !r.used[k] {
				delete(r.deps, k)
			}
		}
	}
	return changed, errors.Join(errs...)
}

// unwrapExec drops text/template's ExecError wrapper, whose message
// repeats the template name, keeping what went wrong.
func unwrapExec(err error) error {
	var ee template.ExecError
	if errors.As(err, &ee) && ee.Err != nil {
		return ee.Err
	}
	return err
}

// invalidateAll makes every secret stale, as after a new login: leases
// taken with the old token die with it.
func (r *renderer) invalidateAll() {
	for _, d := range r.deps {
		d.stale = true
	}
}

// runCommands runs the command of each changed template, one after the
// other, each bounded by its command_timeout. A failing command is logged,
// not fatal, as in Vault Agent.
func runCommands(ctx context.Context, changed []*tmpl, log *slog.Logger, stdout, stderr io.Writer) {
	for _, t := range changed {
		if len(t.cfg.Command) == 0 {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, t.cfg.CommandTimeout)
		cmd := exec.CommandContext(cctx, t.cfg.Command[0], t.cfg.Command[1:]...)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		err := cmd.Run()
		cancel()
		if err != nil {
			log.Warn("template command failed", "destination", t.cfg.Destination, "error", err)
		}
	}
}
