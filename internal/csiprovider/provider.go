// Package csiprovider is Coffer's provider for the Kubernetes Secrets Store
// CSI driver: a gRPC server on a unix socket that answers the driver's
// Version and Mount calls (sigs.k8s.io/secrets-store-csi-driver/provider/
// v1alpha1). For each Mount it logs in to Coffer as the requesting pod's
// service account, with the token the driver passes, reads the objects the
// SecretProviderClass lists and returns them as files for the driver to
// write, each with a version that is an HMAC of its content.
//
// It is not a secrets store: it keeps no state on disk. In memory it keeps
// login tokens and dynamic credentials per pod, so that the driver's
// rotation polls reuse a credential while its lease is valid instead of
// minting a new one each time. It never uses an identity of its own.
package csiprovider

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

// Name is the provider's name: the SecretProviderClass's spec.provider and
// the socket's base name.
const Name = "coffer"

// DefaultEndpoint is where the driver looks for the provider's socket.
const DefaultEndpoint = "/var/run/secrets-store-csi-providers/" + Name + ".sock"

// Config configures a Provider. The zero value works.
type Config struct {
	// DefaultAddress is the Coffer address for SecretProviderClasses that
	// set no cofferAddress.
	DefaultAddress string
	// Version is reported by the Version call.
	Version string
	// Logger gets one line per Mount (pod, role, object count, outcome);
	// never a secret. Nil discards.
	Logger *slog.Logger
	// HMACKey keys the object versions; random per process when empty.
	HMACKey []byte
	// BackoffBase and BackoffMax bound the pause after Coffer was
	// unreachable, sealed or rate limiting (defaults 1 s and 1 min).
	BackoffBase, BackoffMax time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Provider implements v1alpha1.CSIDriverProviderServer. Safe for concurrent use.
type Provider struct {
	v1alpha1.UnimplementedCSIDriverProviderServer
	cfg     Config
	clients clients
	tokens  ttlCache[string]
	leases  ttlCache[*apiResponse]
	backoff backoff
}

var _ v1alpha1.CSIDriverProviderServer = (*Provider)(nil)

// New returns a Provider for cfg.
func New(cfg Config) *Provider {
	if len(cfg.HMACKey) == 0 {
		cfg.HMACKey = make([]byte, 32)
		_, _ = rand.Read(cfg.HMACKey)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = time.Minute
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	return &Provider{cfg: cfg, backoff: backoff{base: cfg.BackoffBase, max: cfg.BackoffMax}}
}

// Version answers the driver's handshake.
func (p *Provider) Version(context.Context, *v1alpha1.VersionRequest) (*v1alpha1.VersionResponse, error) {
	return &v1alpha1.VersionResponse{Version: "v1alpha1", RuntimeName: Name, RuntimeVersion: p.cfg.Version}, nil
}

// Mount logs in as the pod and returns its objects as files. A failure is a
// gRPC status error whose message starts with one of the Code… constants
// and whose details hold the v1alpha1.Error with it (see CodeOf).
func (p *Provider) Mount(ctx context.Context, req *v1alpha1.MountRequest) (*v1alpha1.MountResponse, error) {
	start := p.cfg.Now()
	mp, resp, err := p.mount(ctx, req)
	log := p.cfg.Logger.With("duration", time.Since(start))
	if mp != nil {
		log = log.With("namespace", mp.podNS, "pod", mp.podName, "role", mp.role, "objects", len(mp.objects))
	}
	if err != nil {
		log.Warn("mount failed", "error", err)
		return nil, grpcError(err)
	}
	log.Info("mounted")
	return resp, nil
}

func (p *Provider) mount(ctx context.Context, req *v1alpha1.MountRequest) (*mountParams, *v1alpha1.MountResponse, error) {
	mp, err := parseAttributes(req.GetAttributes(), p.cfg.DefaultAddress)
	if err != nil {
		return nil, nil, err
	}
	mode, err := defaultMode(req.GetPermission())
	if err != nil {
		return mp, nil, err
	}
	hc, err := p.clients.get(mp)
	if err != nil {
		return mp, nil, err
	}
	ident := identity(mp)
	for _, key := range []string{mp.address, podBackoffKey(mp.address, ident)} {
		if berr := p.backoff.check(key, p.cfg.Now()); berr != nil {
			return mp, nil, berr
		}
	}
	current := map[string]string{}
	for _, v := range req.GetCurrentObjectVersion() {
		current[v.GetId()] = v.GetVersion()
	}
	s := &session{p: p, mp: mp, hc: hc, ident: ident, rotation: len(current) > 0, current: current, budget: maxMountBytes}
	out := &v1alpha1.MountResponse{}
	got := map[string]*apiResponse{}
	for i := range mp.objects {
		o := &mp.objects[i]
		r, ok := got[o.requestKey()]
		if !ok {
			if r, err = s.fetch(ctx, o, i); err != nil {
				return mp, nil, err
			}
			got[o.requestKey()] = r
		}
		data, _ := secretData(r)
		b, err := content(o, data)
		if err != nil {
			return mp, nil, err
		}
		m := mode
		if o.Permission.set {
			m = int32(o.Permission.mode)
		}
		out.Files = append(out.Files, &v1alpha1.File{Path: o.file(), Mode: m, Contents: b})
		out.ObjectVersion = append(out.ObjectVersion, &v1alpha1.ObjectVersion{Id: o.file(), Version: p.version(o.file(), b)})
	}
	p.backoff.ok(mp.address)
	p.backoff.ok(podBackoffKey(mp.address, ident))
	return mp, out, nil
}

// podBackoffKey is the back-off key of one pod's login at addr: a rate
// limit is a quota on that pod's requests, and holds back that pod
// alone, while an unreachable or sealed server holds back the address.
func podBackoffKey(addr, ident string) string { return addr + "\x00" + ident }

// defaultMode reads the driver's permission attribute (a JSON number, the
// decimal value of a file mode, "420" for 0644).
func defaultMode(perm string) (int32, error) {
	if perm == "" {
		return 0o644, nil
	}
	n, err := strconv.ParseUint(perm, 10, 32)
	if err != nil || n > 0o777 {
		return 0, badParam("permission", "%q is not a file mode", perm)
	}
	return int32(n), nil
}

// version is the ObjectVersion of a file: an HMAC of its name and content,
// which changes with the content and tells nothing about it.
func (p *Provider) version(file string, content []byte) string {
	m := hmac.New(sha256.New, p.cfg.HMACKey)
	m.Write([]byte(file))
	m.Write([]byte{0})
	m.Write(content)
	return hex.EncodeToString(m.Sum(nil))
}

// identity names the pod and the login it makes, as the prefix of every
// cache key: entries are never shared between pods, roles or servers.
func identity(mp *mountParams) string {
	h := sha256.New()
	for _, s := range []string{mp.address, mp.authMount, mp.role, mp.podNS, mp.podName, mp.podUID, mp.saName} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// session is one Mount's conversation with Coffer.
type session struct {
	p        *Provider
	mp       *mountParams
	hc       *http.Client
	ident    string
	rotation bool
	current  map[string]string
	token    string
	fresh    bool  // token came from a login in this session
	budget   int64 // bytes this Mount may still read from Coffer
}

func (s *session) tokenKey() string {
	sum := sha256.Sum256([]byte(s.ident + "\x00" + s.mp.jwt))
	return hex.EncodeToString(sum[:])
}

// login returns a Coffer token for the pod: a cached one while it has at
// least a third of its TTL left, else a new login with the pod's token.
func (s *session) login(ctx context.Context) error {
	if s.token != "" {
		return nil
	}
	now := s.p.cfg.Now()
	if t, ok := s.p.tokens.get(s.tokenKey(), now); ok {
		s.token = t
		return nil
	}
	r, err := call(ctx, s.hc, s.mp.address, "POST", "auth/"+s.mp.authMount+"/login", "", nil,
		map[string]any{"role": s.mp.role, "jwt": s.mp.jwt}, &s.budget)
	if err != nil {
		return s.classify(ctx, err, "", -1)
	}
	if r.Auth == nil || r.Auth.ClientToken == "" {
		return mountErr(CodeServerError, "login at auth/%s returned no token", s.mp.authMount)
	}
	s.token, s.fresh = r.Auth.ClientToken, true
	// Cached for two thirds of its TTL, and never past the expiry of the
	// pod's token it was obtained with.
	if ttl := time.Duration(r.Auth.LeaseDuration) * time.Second; ttl > 0 {
		until := now.Add(ttl * 2 / 3)
		if e := s.mp.jwtExpires; !e.IsZero() && e.Before(until) {
			until = e
		}
		s.p.tokens.put(s.tokenKey(), s.token, until, now)
	}
	return nil
}

// fetch returns the response object o needs: on a rotation call, the cached
// dynamic credential the pod already holds while its lease is valid;
// otherwise a new request to Coffer.
func (s *session) fetch(ctx context.Context, o *object, i int) (*apiResponse, error) {
	// A cached credential goes only to a token that passed a login: the
	// login cache is keyed by the pod's token, so this checks it anew
	// whenever the driver brings another one.
	if err := s.login(ctx); err != nil {
		return nil, err
	}
	key := s.ident + "\x00" + o.requestKey()
	if s.rotation {
		if r, ok := s.p.leases.get(key, s.p.cfg.Now()); ok && s.podHolds(r, o) {
			return r, nil
		}
	}
	r, err := s.request(ctx, o, i)
	var se *sessionRetry
	if errors.As(err, &se) {
		r, err = s.request(ctx, o, i)
	}
	if err != nil {
		return nil, err
	}
	if r.LeaseID != "" && r.LeaseDuration > 0 {
		now := s.p.cfg.Now()
		s.p.leases.put(key, r, reuseUntil(now, time.Duration(r.LeaseDuration)*time.Second), now)
	}
	return r, nil
}

// podHolds reports whether the pod's current version of every object that
// r serves is what r renders: only then is reusing r a no-op for the pod.
func (s *session) podHolds(r *apiResponse, o *object) bool {
	data, _ := secretData(r)
	for j := range s.mp.objects {
		x := &s.mp.objects[j]
		if x.requestKey() != o.requestKey() {
			continue
		}
		b, err := content(x, data)
		if err != nil || !hmac.Equal([]byte(s.current[x.file()]), []byte(s.p.version(x.file(), b))) {
			return false
		}
	}
	return true
}
