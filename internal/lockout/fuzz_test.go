package lockout

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// FuzzParseTune: whatever JSON object a tune carries, ParseTune answers a
// 400 or settings within bounds, and never panics.
func FuzzParseTune(f *testing.F) {
	for _, s := range []string{
		`{"lockout_threshold":"3","lockout_duration":"10m","lockout_counter_reset_duration":"20m","lockout_disable":true}`,
		`{"lockout_threshold":4,"lockout_duration":60}`,
		`{"lockout_counter_reset":"5s","disable_lockout":"false"}`,
		`{"lockout_duration":"system"}`,
		`{"lockout_threshold":-1}`,
		`{"lockout_threshold":1e400}`,
		`{"lockout_duration":"9999999999999h"}`,
		`{"lockout_duration":"2d"}`,
		`{"x":null}`,
		`{}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		d := json.NewDecoder(strings.NewReader(src))
		d.UseNumber()
		var m map[string]any
		if d.Decode(&m) != nil {
			return
		}
		s, err := ParseTune(Settings{}, m)
		if err != nil {
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("not a 400: %v", err)
			}
			return
		}
		if s.Duration < 0 || s.CounterReset < 0 || s.Threshold > 1<<32-1 {
			t.Fatalf("out of bounds: %+v", s)
		}
	})
}
