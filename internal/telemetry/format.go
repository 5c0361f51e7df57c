package telemetry

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Errors of Encode, for the HTTP layer to turn into 400s.
var (
	ErrPrometheusDisabled = errors.New("prometheus is not enabled: set prometheus_retention_time in the server's telemetry stanza")
	ErrUnknownFormat      = errors.New(`unknown metrics format: use format=prometheus, or leave format out for JSON`)
)

// PrometheusContentType is the content type of the Prometheus text format.
const PrometheusContentType = string(expfmt.FmtText)

// Encode renders every metric as sys/metrics answers: format "prometheus"
// is the Prometheus text exposition format; "" or "json" is Vault's JSON
// shape (Gauges, Counters, Samples). Other formats are ErrUnknownFormat, a
// Prometheus request while it is off is ErrPrometheusDisabled.
func (m *Metrics) Encode(format string) (contentType string, body []byte, err error) {
	if m == nil {
		return "", nil, ErrPrometheusDisabled
	}
	switch strings.ToLower(format) {
	case "prometheus":
		if !m.PrometheusEnabled() {
			return "", nil, ErrPrometheusDisabled
		}
		fams, err := m.reg.Gather()
		if err != nil && len(fams) == 0 {
			return "", nil, fmt.Errorf("gather metrics: %w", err)
		}
		var buf bytes.Buffer
		enc := expfmt.NewEncoder(&buf, expfmt.FmtText)
		for _, f := range fams {
			if err := enc.Encode(f); err != nil {
				return "", nil, fmt.Errorf("encode metrics: %w", err)
			}
		}
		return PrometheusContentType, buf.Bytes(), nil
	case "", "json":
		return "", nil, nil
	}
	return "", nil, ErrUnknownFormat
}

// JSON is Vault's in-memory sink shape of sys/metrics without a format.
type JSON struct {
	Timestamp string        `json:"Timestamp"`
	Gauges    []JSONGauge   `json:"Gauges"`
	Points    []any         `json:"Points"`
	Counters  []JSONSampled `json:"Counters"`
	Samples   []JSONSampled `json:"Samples"`
}

// JSONGauge is one gauge of the JSON shape.
type JSONGauge struct {
	Name   string            `json:"Name"`
	Value  float64           `json:"Value"`
	Labels map[string]string `json:"Labels"`
}

// JSONSampled is one counter or histogram of the JSON shape; Count and Sum
// are cumulative since the server started, Mean is Sum/Count.
type JSONSampled struct {
	Name   string            `json:"Name"`
	Count  uint64            `json:"Count"`
	Sum    float64           `json:"Sum"`
	Mean   float64           `json:"Mean"`
	Labels map[string]string `json:"Labels"`
}

// Snapshot gathers every metric in Vault's JSON shape; the Go runtime's
// own series are left out, as Vault leaves them out of this view.
func (m *Metrics) Snapshot() (JSON, error) {
	out := JSON{Timestamp: time.Now().UTC().Format("2006-01-02 15:04:05 -0700 MST"), Gauges: []JSONGauge{}, Points: []any{},
		Counters: []JSONSampled{}, Samples: []JSONSampled{}}
	if m == nil {
		return out, nil
	}
	fams, err := m.reg.Gather()
	if err != nil && len(fams) == 0 {
		return out, fmt.Errorf("gather metrics: %w", err)
	}
	for _, f := range fams {
		name := f.GetName()
		if !strings.HasPrefix(name, Namespace+"_") {
			continue
		}
		for _, s := range f.GetMetric() {
			labels := labelMap(s.GetLabel())
			switch f.GetType() {
			case dto.MetricType_GAUGE:
				out.Gauges = append(out.Gauges, JSONGauge{Name: name, Value: s.GetGauge().GetValue(), Labels: labels})
			case dto.MetricType_COUNTER:
				v := s.GetCounter().GetValue()
				out.Counters = append(out.Counters, JSONSampled{Name: name, Count: uint64(v), Sum: v, Mean: 1, Labels: labels})
			case dto.MetricType_HISTOGRAM:
				h := s.GetHistogram()
				js := JSONSampled{Name: name, Count: h.GetSampleCount(), Sum: h.GetSampleSum(), Labels: labels}
				if js.Count > 0 {
					js.Mean = js.Sum / float64(js.Count)
				}
				out.Samples = append(out.Samples, js)
			}
		}
	}
	return out, nil
}

func labelMap(pairs []*dto.LabelPair) map[string]string {
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		m[p.GetName()] = p.GetValue()
	}
	return m
}
