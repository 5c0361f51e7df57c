package telemetry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
)

// count returns the sample count (histogram) or value (counter) of the
// series of name with the given label value pairs.
func count(t *testing.T, m *Metrics, name string, labels ...string) float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, s := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range s.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			if f.GetType() == dto.MetricType_HISTOGRAM {
				return float64(s.GetHistogram().GetSampleCount())
			}
			return s.GetCounter().GetValue() + s.GetGauge().GetValue()
		}
	}
	return -1
}

func TestPhysicalKeepsCapabilitiesAndTimes(t *testing.T) {
	t.Parallel()
	m := New(Config{PrometheusRetention: DefaultPrometheusRetention, DisableHostname: true})
	p := m.Physical(inmem.New(), "inmem")
	tx, ok := p.(physical.Transactional)
	if !ok {
		t.Fatal("the timed backend lost Transactional")
	}
	ctx := context.Background()
	if err := p.Put(ctx, &physical.Entry{Key: "a", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if e, err := p.Get(ctx, "a"); err != nil || string(e.Value) != "v" {
		t.Fatalf("get: %v %v", e, err)
	}
	// A read of several keys passes through and times each Get.
	rb, ok := p.(physical.ReadBeginner)
	if !ok {
		t.Fatal("the timed backend has no BeginRead")
	}
	r, err := rb.BeginRead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v, found, err := r.Get(ctx, "a"); err != nil || !found || string(v) != "v" {
		t.Fatalf("read a: %q %v %v", v, found, err)
	}
	if _, found, err := r.Get(ctx, "b"); err != nil || found {
		t.Fatalf("read b: %v %v", found, err)
	}
	r.Done()
	if err := tx.Transaction(ctx, []physical.TxnOp{{Delete: true, Entry: &physical.Entry{Key: "a"}}}); err != nil {
		t.Fatal(err)
	}
	for op, want := range map[string]float64{"put": 1, "get": 3, "transaction": 1, "list": 0} {
		if got := count(t, m, "coffer_storage_duration_seconds", "backend", "inmem", "op", op); got != want && !(want == 0 && got == -1) {
			t.Errorf("%s: %v observations, want %v", op, got, want)
		}
	}
	if (*Metrics)(nil).Physical(inmem.New(), "inmem") == nil {
		t.Error("a nil Metrics must return the backend itself")
	}
}

func TestHandlerCountsCodesAndServesOpenMetrics(t *testing.T) {
	t.Parallel()
	m := New(Config{PrometheusRetention: DefaultPrometheusRetention, Hostname: "node-a"})
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/missing" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	// In this order: the open listener's scrape expects the status codes
	// the plain requests before it were counted under.
	cases := []struct {
		name       string
		open       bool
		path       string
		wantStatus int
		wantBody   string
	}{
		{"plain request", false, "/v1/x", 200, "ok"},
		{"not found", false, "/v1/missing", 404, ""},
		{"metrics go to the API", false, "/v1/sys/metrics?format=prometheus", 200, "ok"},
		{"open listener serves them", true, "/v1/sys/metrics?format=prometheus", 200, "coffer_core_response_status_code_total"},
		{"open json", true, "/v1/sys/metrics", 200, `"Counters"`},
		{"open bad format", true, "/v1/sys/metrics?format=xml", 400, "format=prometheus"},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		m.Handler(next, c.open).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.path, nil))
		if rec.Code != c.wantStatus || !strings.Contains(rec.Body.String(), c.wantBody) {
			t.Errorf("%s: %d %.200s", c.name, rec.Code, rec.Body)
		}
	}
	if got := count(t, m, "coffer_core_response_status_code_total", "code", "404", "host", "node-a"); got != 1 {
		t.Errorf("404s counted %v times, want 1 (with the host label)", got)
	}
	// The series are reused after their first response, which must not
	// lose or double a count.
	for code, want := range map[string]float64{"200": 4, "400": 1} {
		if got := count(t, m, "coffer_core_response_status_code_total", "code", code, "host", "node-a"); got != want {
			t.Errorf("%s counted %v times, want %v", code, got, want)
		}
	}
}

func TestEncodeFormats(t *testing.T) {
	t.Parallel()
	off := New(Config{DisableHostname: true})
	if _, _, err := off.Encode("prometheus"); !errors.Is(err, ErrPrometheusDisabled) {
		t.Errorf("retention 0: %v, want ErrPrometheusDisabled", err)
	}
	on := New(Config{PrometheusRetention: DefaultPrometheusRetention, DisableHostname: true})
	on.Login("userpass", false)
	ct, body, err := on.Encode("prometheus")
	if err != nil || ct != PrometheusContentType || !bytes.Contains(body, []byte(`coffer_auth_login_failures_total{auth_method="userpass"} 1`)) {
		t.Errorf("prometheus: %q %v\n%s", ct, err, body)
	}
	snap, err := on.Snapshot()
	if err != nil || len(snap.Counters) == 0 {
		t.Errorf("snapshot: %+v %v", snap, err)
	}
	for _, c := range snap.Counters {
		if !strings.HasPrefix(c.Name, "coffer_") {
			t.Errorf("snapshot holds %s", c.Name)
		}
	}
}

func TestLevelsAndRequestID(t *testing.T) {
	t.Parallel()
	base := new(slog.LevelVar)
	lv := NewLevels(base)
	var out bytes.Buffer
	logger := slog.New(NewLogHandler(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: LevelTrace}), lv))
	lease := logger.With("component", "lease")
	ctx, _ := (*Metrics)(nil).Begin(context.Background(), "req-123")

	lease.DebugContext(ctx, "hidden")
	if err := lv.Set("lease", "debug"); err != nil {
		t.Fatal(err)
	}
	lease.DebugContext(ctx, "shown")
	logger.DebugContext(ctx, "core hidden")
	if got := lv.Snapshot(); got["lease"] != "debug" || got["core"] != "info" {
		t.Errorf("snapshot %v", got)
	}
	if err := lv.Set("", "trace"); err != nil {
		t.Fatal(err)
	}
	logger.Log(ctx, LevelTrace, "trace shown")
	if err := lv.Reset(""); err != nil {
		t.Fatal(err)
	}
	lease.DebugContext(ctx, "hidden again")
	base.Set(slog.LevelDebug) // a SIGHUP with log_level = "debug"
	logger.Debug("base debug shown")
	if err := lv.Set("nope", "debug"); !errors.Is(err, ErrUnknownLogger) {
		t.Errorf("unknown logger: %v", err)
	}
	if err := lv.Set("core", "loud"); err == nil {
		t.Error("level loud accepted")
	}
	s := out.String()
	for _, want := range []string{`msg=shown component=lease request_id=req-123`, "trace shown", "base debug shown"} {
		if !strings.Contains(s, want) {
			t.Errorf("log lacks %q:\n%s", want, s)
		}
	}
	for _, unwanted := range []string{"msg=hidden", "core hidden", "hidden again"} {
		if strings.Contains(s, unwanted) {
			t.Errorf("log holds %q:\n%s", unwanted, s)
		}
	}
}
