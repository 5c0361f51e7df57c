package telemetry

import (
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every metric name.
const Namespace = "coffer"

// Config is the server's telemetry stanza, defaults applied by the caller.
type Config struct {
	// PrometheusRetention is Vault's prometheus_retention_time: zero turns
	// the Prometheus format of sys/metrics off (a 400, as in Vault).
	// Counters here never expire, so any positive value only turns it on.
	PrometheusRetention time.Duration
	// DisableHostname drops the host label every series otherwise carries.
	DisableHostname bool
	// UsageGaugePeriod is how often gauges that need a storage scan (the
	// token count) are refreshed; zero never refreshes them.
	UsageGaugePeriod time.Duration
	// Hostname names the host label; empty means os.Hostname.
	Hostname string
}

// Defaults as in Vault's telemetry stanza.
const (
	DefaultPrometheusRetention = 24 * time.Hour
	DefaultUsageGaugePeriod    = 10 * time.Minute
)

// durationBuckets suit both sub-millisecond cached reads and slow
// upstream calls.
var durationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Metrics is one server's set of metrics. Safe for concurrent use; a nil
// *Metrics records nothing.
type Metrics struct {
	conf     Config
	reg      *prometheus.Registry
	register prometheus.Registerer

	requests      *prometheus.HistogramVec
	statusCodes   *prometheus.CounterVec
	logins        *prometheus.CounterVec
	loginFailures *prometheus.CounterVec
	tokensCreated *prometheus.CounterVec
	tokensRevoked prometheus.Counter
	tokenCount    prometheus.Gauge
	barrierOps    *prometheus.HistogramVec
	// barrierObs are barrierOps' series, resolved once: a storage
	// operation then costs no label hashing.
	barrierObs    map[string]prometheus.Observer
	storageOps    *prometheus.HistogramVec
	auditFailures *prometheus.CounterVec
	// statusSeries are statusCodes' series for codes 100–599, resolved
	// on a code's first response (so none is exported before it) and
	// then reused: a response costs no label formatting or hashing.
	statusSeries [500]atomic.Pointer[prometheus.Counter]
	// requestSeries are requests' series by mount type and operation,
	// resolved on first use and then read without a lock or label
	// hashing (requestObserver).
	requestSeries atomic.Pointer[map[requestLabels]prometheus.Observer]
	requestMu     sync.Mutex
}

// requestLabels are the labels of a request's duration series.
type requestLabels struct{ mountType, operation string }

// maxRequestSeries bounds the resolved request series kept (mount types
// times operations are far fewer); past it a series is looked up by label.
const maxRequestSeries = 512

// requestObserver returns the requests series of mountType and op. The
// map is copied on the rare miss, so a hit takes no lock.
func (m *Metrics) requestObserver(mountType, op string) prometheus.Observer {
	k := requestLabels{mountType, op}
	if p := m.requestSeries.Load(); p != nil {
		if o, ok := (*p)[k]; ok {
			return o
		}
	}
	o := m.requests.WithLabelValues(mountType, op)
	m.requestMu.Lock()
	defer m.requestMu.Unlock()
	old := m.requestSeries.Load()
	if old == nil || len(*old) < maxRequestSeries {
		n := make(map[requestLabels]prometheus.Observer, 1+lenOf(old))
		if old != nil {
			for k, v := range *old {
				n[k] = v
			}
		}
		n[k] = o
		m.requestSeries.Store(&n)
	}
	return o
}

func lenOf(p *map[requestLabels]prometheus.Observer) int {
	if p == nil {
		return 0
	}
	return len(*p)
}

// statusCounter returns the statusCodes series of code.
func (m *Metrics) statusCounter(code int) prometheus.Counter {
	if code < 100 || code >= 600 {
		return m.statusCodes.WithLabelValues(strconv.Itoa(code))
	}
	p := &m.statusSeries[code-100]
	if c := p.Load(); c != nil {
		return *c
	}
	c := m.statusCodes.WithLabelValues(strconv.Itoa(code))
	p.Store(&c)
	return c
}

// New returns the metrics of one server, with the Go runtime and process
// collectors, in a registry of their own.
func New(conf Config) *Metrics {
	reg := prometheus.NewRegistry()
	var r prometheus.Registerer = reg
	if !conf.DisableHostname {
		host := conf.Hostname
		if host == "" {
			host, _ = os.Hostname()
		}
		r = prometheus.WrapRegistererWith(prometheus.Labels{"host": host}, reg)
	}
	m := &Metrics{conf: conf, reg: reg, register: r}
	f := factory{r}
	m.requests = f.histogram("core", "handle_request_duration_seconds",
		"Time to handle a request, by the type of the mount it reached and its operation.", "mount_type", "operation")
	m.statusCodes = f.counter("core", "response_status_code_total", "HTTP responses, by status code.", "code")
	m.logins = f.counter("auth", "login_total", "Login attempts, by auth method type.", "auth_method")
	m.loginFailures = f.counter("auth", "login_failures_total", "Failed login attempts, by auth method type.", "auth_method")
	m.tokensCreated = f.counter("token", "creation_total",
		"Tokens created, by the type of the auth method that issued them and the token type.", "auth_method", "token_type")
	m.tokensRevoked = f.counter("token", "revoked_total", "Tokens revoked (explicitly, by expiry or used up).").WithLabelValues()
	m.tokenCount = f.gauge("token", "count", "Service tokens in storage, refreshed every usage_gauge_period.")
	m.barrierOps = f.histogram("barrier", "duration_seconds", "Time of barrier (encrypted storage) operations.", "op")
	m.barrierObs = map[string]prometheus.Observer{}
	for _, op := range []string{"get", "put", "delete", "list", "transaction"} {
		m.barrierObs[op] = m.barrierOps.WithLabelValues(op)
	}
	m.storageOps = f.histogram("storage", "duration_seconds", "Time of physical storage operations, by backend type.", "backend", "op")
	m.auditFailures = f.counter("audit", "log_failures_total", "Audit entries a device failed to record, by device type.", "device_type")
	for _, t := range []string{"file", "socket", "syslog"} {
		// Present from the start, so an alert on it has a series to watch.
		m.auditFailures.WithLabelValues(t)
	}
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the registry to gather from; nil for a nil Metrics.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// PrometheusEnabled reports whether sys/metrics may answer in the
// Prometheus format.
func (m *Metrics) PrometheusEnabled() bool { return m != nil && m.conf.PrometheusRetention > 0 }

// UsageGaugePeriod is Config.UsageGaugePeriod; zero for a nil Metrics.
func (m *Metrics) UsageGaugePeriod() time.Duration {
	if m == nil {
		return 0
	}
	return m.conf.UsageGaugePeriod
}

// GaugeFunc registers a gauge read from f at every scrape, for figures a
// component already keeps in memory (seal state, leases). f must be cheap
// and safe for concurrent use. A second gauge of one name is ignored.
func (m *Metrics) GaugeFunc(subsystem, name, help string, f func() float64) {
	if m == nil {
		return
	}
	_ = m.register.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Subsystem: subsystem, Name: name, Help: help,
	}, f))
}

// SetTokenCount reports the number of tokens in storage.
func (m *Metrics) SetTokenCount(n int) {
	if m != nil {
		m.tokenCount.Set(float64(n))
	}
}

// TokenRevoked counts one revoked token.
func (m *Metrics) TokenRevoked() {
	if m != nil {
		m.tokensRevoked.Inc()
	}
}

// TokenCreated counts one token issued by an auth method of type
// authMethod ("token" for auth/token/create); tokenType is service or
// batch.
func (m *Metrics) TokenCreated(authMethod, tokenType string) {
	if m != nil {
		m.tokensCreated.WithLabelValues(orNone(authMethod), orNone(tokenType)).Inc()
	}
}

// Login counts one login attempt at an auth method of type authMethod.
func (m *Metrics) Login(authMethod string, ok bool) {
	if m == nil {
		return
	}
	authMethod = orNone(authMethod)
	m.logins.WithLabelValues(authMethod).Inc()
	if !ok {
		m.loginFailures.WithLabelValues(authMethod).Inc()
	}
}

// AuditFailure counts one entry an audit device of type deviceType
// ("file", "socket", "syslog") failed to record.
func (m *Metrics) AuditFailure(deviceType string) {
	if m != nil {
		m.auditFailures.WithLabelValues(orNone(deviceType)).Inc()
	}
}

// ObserveBarrier records one barrier operation (get, put, delete, list,
// transaction) that took took.
func (m *Metrics) ObserveBarrier(op string, took time.Duration) {
	if m == nil {
		return
	}
	if o, ok := m.barrierObs[op]; ok {
		o.Observe(took.Seconds())
		return
	}
	m.barrierOps.WithLabelValues(op).Observe(took.Seconds())
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// factory builds metrics in one namespace and registers them.
type factory struct{ r prometheus.Registerer }

func (f factory) histogram(sub, name, help string, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: sub, Name: name, Help: help, Buckets: durationBuckets,
	}, labels)
	f.r.MustRegister(h)
	return h
}

func (f factory) counter(sub, name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: sub, Name: name, Help: help}, labels)
	f.r.MustRegister(c)
	return c
}

func (f factory) gauge(sub, name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: sub, Name: name, Help: help})
	f.r.MustRegister(g)
	return g
}
