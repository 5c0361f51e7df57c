package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/config"
)

// Template retries back off from renderMinBackoff to renderMaxBackoff, as
// consul-template's do.
const (
	renderMinBackoff = 250 * time.Millisecond
	renderMaxBackoff = time.Minute
)

// Options are what the command line adds to the configuration.
type Options struct {
	// Logger receives the agent's log; nil discards it.
	Logger *slog.Logger
	// ExitOnErr ends the agent at the first authentication or render
	// error instead of retrying (the -exit-on-err flag).
	ExitOnErr bool
	// Stdout and Stderr receive the output of template commands and of the
	// exec child; nil discards it.
	Stdout, Stderr io.Writer
}

// Agent is one configured agent. Run it once.
type Agent struct {
	cfg    *config.Agent
	opts   Options
	log    *slog.Logger
	base   *api.Client
	keeper *tokenKeeper
	render *renderer
	proxy  *proxy
}

// New checks what can be checked before running (the templates parse, the
// server address and TLS files are usable) and returns the agent. It does
// not contact the server.
func New(cfg *config.Agent, opts Options) (*Agent, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	base, err := newClient(cfg.Server)
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, opts: opts, log: opts.Logger, base: base}
	if cfg.AutoAuth != nil {
		a.keeper, err = newTokenKeeper(base, cfg.AutoAuth, opts.ExitOnErr, cfg.TemplateConfig.LeaseRenewalThreshold, a.log)
		if err != nil {
			return nil, err
		}
	}
	if a.render, err = newRenderer(cfg, a.log); err != nil {
		return nil, err
	}
	if len(cfg.Listeners) > 0 {
		a.proxy = newProxy(cfg, base, a.keeper, a.log)
	}
	return a, nil
}

// Run authenticates, renders and keeps everything fresh until ctx ends
// (then it returns nil), exit_after_auth is done (nil), the exec child
// exits on its own (*ChildExitError), or an error is fatal: with
// -exit-on-err any error, with exit_on_retry_failure a template that
// failed every retry.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if a.cfg.PIDFile != "" {
		if err := writeFileAtomic(a.cfg.PIDFile, []byte(strconv.Itoa(os.Getpid())), 0o644, false); err != nil {
			return err
		}
		defer os.Remove(a.cfg.PIDFile)
	}
	errc := make(chan error, 2)
	if a.proxy != nil {
		stop, err := a.proxy.start(errc)
		if err != nil {
			return err
		}
		defer stop()
	}
	if a.keeper == nil {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		}
	}
	go func() {
		if err := a.keeper.run(ctx); err != nil {
			errc <- err
		}
	}()
	select {
	case <-a.keeper.changed:
	case err := <-errc:
		return err
	case <-ctx.Done():
		return nil
	}
	if a.cfg.ExitAfterAuth {
		return a.renderOnce(ctx)
	}
	return a.loop(ctx, errc)
}

// renderOnce renders every template, retrying failures, for
// exit_after_auth (init containers).
func (a *Agent) renderOnce(ctx context.Context) error {
	bo := backoff{min: renderMinBackoff, max: renderMaxBackoff}
	client, _, _ := a.keeper.current()
	for attempt := 0; ; attempt++ {
		changed, err := a.render.renderAll(ctx, client)
		runCommands(ctx, changed, a.log, a.opts.Stdout, a.opts.Stderr)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		if a.opts.ExitOnErr || attempt >= a.cfg.Server.Retries {
			return err
		}
		wait := bo.next()
		a.log.Warn("render failed; retrying", "error", err, "backoff", wait.Round(time.Millisecond))
		if !sleep(ctx, wait) {
			return nil
		}
	}
}

// loop is the long-running agent: it renders when something is due,
// renews leases, follows new tokens, and supervises the exec child.
func (a *Agent) loop(ctx context.Context, errc chan error) error {
	r := a.render
	var ch *child
	if a.cfg.Exec != nil {
		ch = &child{cfg: a.cfg.Exec, stdout: a.opts.Stdout, stderr: a.opts.Stderr, log: a.log}
		defer ch.stop(a.cfg.Exec.RestartStopSignal)
	}
	st := loopState{bo: backoff{min: renderMinBackoff, max: renderMaxBackoff}, dirty: true}
	for {
		if err := a.step(ctx, &st, ch); err != nil {
			return err
		}
		wake := r.nextWake()
		if !st.retryAt.IsZero() && (wake.IsZero() || st.retryAt.Before(wake)) {
			wake = st.retryAt
		}
		var timer <-chan time.Time
		var t *time.Timer
		if !wake.IsZero() {
			t = time.NewTimer(max(time.Until(wake), 0))
			timer = t.C
		}
		var childDone <-chan error
		if ch != nil {
			childDone = ch.done()
		}
		err := a.wait(ctx, timer, errc, ch, childDone)
		if t != nil {
			t.Stop()
		}
		if err != nil || ctx.Err() != nil {
			return err
		}
	}
}

// wait blocks until something may be due: the timer, a new token, a
// fatal error, the child's exit or the end of ctx.
func (a *Agent) wait(ctx context.Context, timer <-chan time.Time, errc chan error, ch *child, childDone <-chan error) error {
	select {
	case <-timer:
	case <-a.keeper.changed:
	case err := <-errc:
		return err
	case err := <-childDone:
		ch.cmd = nil
		return &ChildExitError{Code: exitCode(err)}
	case <-ctx.Done():
	}
	return nil
}

// loopState is what the loop carries from one step to the next.
type loopState struct {
	gen      uint64
	dirty    bool
	started  bool
	failures int
	retryAt  time.Time
	bo       backoff
}

// step does what is due now: follow a new token, renew leases, render
// what is stale, run commands, start or restart the child.
func (a *Agent) step(ctx context.Context, st *loopState, ch *child) error {
	r := a.render
	client, _, gen := a.keeper.current()
	if gen != st.gen {
		if st.gen != 0 {
			r.invalidateAll()
		}
		st.gen, st.dirty = gen, true
	}
	now := time.Now()
	r.renewDue(ctx, client, now)
	if r.markDue(now) {
		st.dirty = true
	}
	if !st.dirty || (!st.retryAt.IsZero() && now.Before(st.retryAt)) {
		return nil
	}
	changed, err := r.renderAll(ctx, client)
	if ctx.Err() != nil {
		return nil
	}
	runCommands(ctx, changed, a.log, a.opts.Stdout, a.opts.Stderr)
	if len(changed) > 0 && ch != nil && st.started && a.cfg.Exec.RestartOnSecretChanges == config.RestartAlways {
		if err := ch.restart(); err != nil {
			return err
		}
	}
	if err != nil {
		st.failures++
		if a.opts.ExitOnErr {
			return err
		}
		if st.failures > a.cfg.Server.Retries && a.cfg.TemplateConfig.ExitOnRetryFailure {
			return fmt.Errorf("giving up after %d retries (exit_on_retry_failure): %w", a.cfg.Server.Retries, err)
		}
		wait := st.bo.next()
		st.retryAt = now.Add(wait)
		a.log.Warn("render failed; retrying", "error", err, "backoff", wait.Round(time.Millisecond))
		return nil
	}
	st.failures, st.retryAt, st.dirty = 0, time.Time{}, false
	st.bo.reset()
	if ch != nil && !st.started {
		if err := ch.start(); err != nil {
			return err
		}
		st.started = true
	}
	return nil
}
