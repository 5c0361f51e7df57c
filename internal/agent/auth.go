package agent

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/config"
)

// tokenKeeper logs in with the auto-auth method, writes the token to the
// sinks, renews it, and logs in again when it can no longer be renewed.
// current is safe for concurrent use; run is called once.
type tokenKeeper struct {
	base      *api.Client
	method    method
	sinks     []config.Sink
	bo        backoff
	exitOnErr bool
	threshold float64
	log       *slog.Logger

	mu     sync.Mutex
	client *api.Client
	token  string
	gen    uint64
	// changed is signalled (without blocking) after each new token.
	changed chan struct{}
	// ready is closed when the first token is there.
	ready     chan struct{}
	readyOnce sync.Once
}

func newTokenKeeper(base *api.Client, aa *config.AutoAuth, exitOnErr bool, threshold float64, log *slog.Logger) (*tokenKeeper, error) {
	m, err := newMethod(aa.Method)
	if err != nil {
		return nil, err
	}
	return &tokenKeeper{
		base: base, method: m, sinks: aa.Sinks,
		bo:        backoff{min: aa.Method.MinBackoff, max: aa.Method.MaxBackoff},
		exitOnErr: exitOnErr || aa.Method.ExitOnErr, threshold: threshold, log: log,
		changed: make(chan struct{}, 1), ready: make(chan struct{}),
	}, nil
}

// current returns a client sending the current token, the token, and its
// generation (0 before the first login; it grows with every new login).
func (k *tokenKeeper) current() (*api.Client, string, uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.client, k.token, k.gen
}

// run logs in and keeps a token until ctx ends. It returns nil when ctx
// ends, or an error wrapping ErrAuth when a login or sink write failed and
// the agent is to exit on errors.
func (k *tokenKeeper) run(ctx context.Context) error {
	for {
		l, err := k.method.login(ctx, k.base)
		if err == nil {
			err = k.set(l.token)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if k.exitOnErr {
				return fmt.Errorf("%w: %w", ErrAuth, err)
			}
			wait := k.bo.next()
			k.log.Warn("auto-auth failed; retrying", "error", err, "backoff", wait.Round(time.Millisecond))
			if !sleep(ctx, wait) {
				return nil
			}
			continue
		}
		k.bo.reset()
		k.log.Info("authenticated", "ttl", l.ttl, "renewable", l.renewable)
		k.keepAlive(ctx, l.ttl, l.renewable)
		if ctx.Err() != nil {
			return nil
		}
	}
}

// set makes token current and writes it to every sink.
func (k *tokenKeeper) set(token string) error {
	c, err := withToken(k.base, token)
	if err != nil {
		return err
	}
	for _, s := range k.sinks {
		if err := writeFileAtomic(s.Path, []byte(token), s.Mode, true); err != nil {
			return fmt.Errorf("sink: %w", err)
		}
	}
	k.mu.Lock()
	k.client, k.token = c, token
	k.gen++
	k.mu.Unlock()
	k.readyOnce.Do(func() { close(k.ready) })
	select {
	case k.changed <- struct{}{}:
	default:
	}
	return nil
}

// keepAlive renews the current token at two thirds of its TTL for as long
// as renewals extend it fully; it returns when a new login is due: the
// token is not renewable (at lease_renewal_threshold of its TTL), a
// renewal failed, or a renewal was capped by the token's max TTL (at the
// threshold of what is left).
func (k *tokenKeeper) keepAlive(ctx context.Context, ttl time.Duration, renewable bool) {
	if ttl <= 0 {
		<-ctx.Done() // a token that never expires
		return
	}
	for {
		if !renewable {
			sleep(ctx, scale(ttl, k.threshold))
			return
		}
		if !sleep(ctx, renewDelay(ttl, 1)) {
			return
		}
		c, _, _ := k.current()
		sec, err := c.Auth().Token().RenewSelfWithContext(ctx, int(ttl.Seconds()))
		if err != nil || sec == nil || sec.Auth == nil {
			if ctx.Err() == nil {
				k.log.Warn("token renewal failed; logging in again", "error", err)
			}
			return
		}
		got := time.Duration(sec.Auth.LeaseDuration) * time.Second
		if got < ttl {
			sleep(ctx, scale(got, k.threshold))
			return
		}
		ttl, renewable = got, sec.Auth.Renewable
	}
}

// renewDelay is when to renew a lease of ttl: at two thirds of it (or at
// threshold, if earlier), less up to a tenth at random so that agents
// started together do not renew together.
func renewDelay(ttl time.Duration, threshold float64) time.Duration {
	return scale(ttl, min(2.0/3, threshold)*(0.9+0.1*rand.Float64()))
}

// scale returns f·d, at least a millisecond.
func scale(d time.Duration, f float64) time.Duration {
	return max(time.Duration(float64(d)*f), time.Millisecond)
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
