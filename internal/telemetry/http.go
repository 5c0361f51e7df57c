package telemetry

import (
	"encoding/json"
	"errors"
	"net/http"
)

// MetricsPath is the URL path of sys/metrics.
const MetricsPath = "/v1/sys/metrics"

// Handler returns next with the status code of every response counted
// (coffer_core_response_status_code_total). When unauthenticated is set,
// as a listener's unauthenticated_metrics_access asks, GET sys/metrics is
// answered here, without a token and whether or not the server is sealed;
// otherwise it goes to next like any request, which needs a token allowed
// to read sys/metrics. A nil Metrics returns next.
func (m *Metrics) Handler(next http.Handler, unauthenticated bool) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		if unauthenticated && r.URL.Path == MetricsPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			m.serveMetrics(sw, r)
		} else {
			next.ServeHTTP(sw, r)
		}
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		m.statusCounter(code).Inc()
	})
}

// serveMetrics answers sys/metrics itself, in the shapes the sys backend
// gives it.
func (m *Metrics) serveMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	ct, body, err := m.Encode(r.URL.Query().Get("format"))
	if err == nil && ct == "" {
		var snap JSON
		if snap, err = m.Snapshot(); err == nil {
			ct = "application/json"
			body, err = json.Marshal(snap)
		}
	}
	if err != nil {
		status := http.StatusInternalServerError
		msg := "internal error while gathering metrics"
		if errors.Is(err, ErrPrometheusDisabled) || errors.Is(err, ErrUnknownFormat) {
			status, msg = http.StatusBadRequest, err.Error()
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string][]string{"errors": {msg}})
		return
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// statusWriter remembers the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
