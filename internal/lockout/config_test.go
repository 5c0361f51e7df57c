package lockout

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

func ptr[T any](v T) *T { return &v }

func TestResolve(t *testing.T) {
	t.Parallel()
	defaults := Config{Threshold: 5, Duration: 15 * time.Minute, CounterReset: 15 * time.Minute}
	stanzas := map[string]Settings{
		"all":      {Duration: 10 * time.Minute, CounterReset: 10 * time.Minute},
		"userpass": {Threshold: 25, Duration: 5 * time.Minute},
		"ldap":     {Disable: ptr(true)},
	}
	cases := map[string]struct {
		policy Policy
		typ    string
		tune   *Settings
		want   Config
	}{
		"defaults":                    {Policy{}, "userpass", nil, defaults},
		"unsupported type":            {Policy{}, "kubernetes", nil, Config{Disabled: true}},
		"token store":                 {Policy{}, "token", nil, Config{Disabled: true}},
		"type stanza over all":        {Policy{Stanzas: stanzas}, "userpass", nil, Config{Threshold: 25, Duration: 5 * time.Minute, CounterReset: 10 * time.Minute}},
		"all stanza over defaults":    {Policy{Stanzas: stanzas}, "approle", nil, Config{Threshold: 5, Duration: 10 * time.Minute, CounterReset: 10 * time.Minute}},
		"stanza disables":             {Policy{Stanzas: stanzas}, "ldap", nil, Config{Threshold: 5, Duration: 10 * time.Minute, CounterReset: 10 * time.Minute, Disabled: true}},
		"tune over stanza":            {Policy{Stanzas: stanzas}, "userpass", &Settings{Threshold: 3}, Config{Threshold: 3, Duration: 5 * time.Minute, CounterReset: 10 * time.Minute}},
		"tune counter reset":          {Policy{}, "userpass", &Settings{CounterReset: time.Hour}, Config{Threshold: 5, Duration: 15 * time.Minute, CounterReset: time.Hour}},
		"tune enables what conf off":  {Policy{Stanzas: stanzas}, "ldap", &Settings{Disable: ptr(false)}, Config{Threshold: 5, Duration: 10 * time.Minute, CounterReset: 10 * time.Minute}},
		"tune disables":               {Policy{}, "userpass", &Settings{Disable: ptr(true)}, Config{Threshold: 5, Duration: 15 * time.Minute, CounterReset: 15 * time.Minute, Disabled: true}},
		"env disables over tune":      {Policy{EnvDisable: ptr(true)}, "userpass", &Settings{Disable: ptr(false)}, Config{Threshold: 5, Duration: 15 * time.Minute, CounterReset: 15 * time.Minute, Disabled: true}},
		"env enables over everything": {Policy{Stanzas: stanzas, EnvDisable: ptr(false)}, "ldap", &Settings{Disable: ptr(true)}, Config{Threshold: 5, Duration: 10 * time.Minute, CounterReset: 10 * time.Minute}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := tc.policy.Resolve(tc.typ, tc.tune); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseTune(t *testing.T) {
	t.Parallel()
	cur := Settings{Threshold: 7, Duration: time.Hour}
	cases := map[string]struct {
		in      string
		want    Settings
		wantErr bool
	}{
		"strings as the client sends": {in: `{"lockout_threshold":"3","lockout_duration":"10m","lockout_counter_reset_duration":"20m","lockout_disable":true}`,
			want: Settings{Threshold: 3, Duration: 10 * time.Minute, CounterReset: 20 * time.Minute, Disable: ptr(true)}},
		"numbers":                 {in: `{"lockout_threshold":4,"lockout_duration":60}`, want: Settings{Threshold: 4, Duration: time.Minute}},
		"keeps what is left out":  {in: `{"lockout_counter_reset_duration":"1h"}`, want: Settings{Threshold: 7, Duration: time.Hour, CounterReset: time.Hour}},
		"read names accepted":     {in: `{"lockout_counter_reset":"5s","disable_lockout":"false"}`, want: Settings{Threshold: 7, Duration: time.Hour, CounterReset: 5 * time.Second, Disable: ptr(false)}},
		"system resets":           {in: `{"lockout_duration":"system","lockout_threshold":"0"}`, want: Settings{}},
		"empty object":            {in: `{}`, want: cur},
		"unknown key":             {in: `{"lockout_treshold":3}`, wantErr: true},
		"two names for one thing": {in: `{"lockout_counter_reset":"1m","lockout_counter_reset_duration":"2m"}`, wantErr: true},
		"negative threshold":      {in: `{"lockout_threshold":-1}`, wantErr: true},
		"fractional threshold":    {in: `{"lockout_threshold":2.5}`, wantErr: true},
		"huge threshold":          {in: `{"lockout_threshold":"99999999999"}`, wantErr: true},
		"bad duration":            {in: `{"lockout_duration":"soon"}`, wantErr: true},
		"negative duration":       {in: `{"lockout_duration":-5}`, wantErr: true},
		"bad bool":                {in: `{"lockout_disable":"maybe"}`, wantErr: true},
		"object value":            {in: `{"lockout_threshold":{}}`, wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTune(cur, decode(t, tc.in))
			if tc.wantErr {
				if !errors.Is(err, logical.ErrInvalidRequest) {
					t.Fatalf("want a 400, got %v (%+v)", err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !sameSettings(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func sameSettings(a, b Settings) bool {
	if (a.Disable == nil) != (b.Disable == nil) || (a.Disable != nil && *a.Disable != *b.Disable) {
		return false
	}
	a.Disable, b.Disable = nil, nil
	return a == b
}

// decode reads JSON the way the HTTP layer does, numbers as json.Number.
func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	d := json.NewDecoder(stringsReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseEnvDisable(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		env     map[string]string
		want    *bool
		wantErr bool
	}{
		"unset":             {env: nil, want: nil},
		"vault name":        {env: map[string]string{"VAULT_DISABLE_USER_LOCKOUT": "true"}, want: ptr(true)},
		"coffer name wins":  {env: map[string]string{"VAULT_DISABLE_USER_LOCKOUT": "true", "COFFER_DISABLE_USER_LOCKOUT": "0"}, want: ptr(false)},
		"not a boolean":     {env: map[string]string{"VAULT_DISABLE_USER_LOCKOUT": "yes please"}, wantErr: true},
		"blank means unset": {env: map[string]string{"COFFER_DISABLE_USER_LOCKOUT": "  "}, want: nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseEnvDisable(func(k string) string { return tc.env[k] })
			if tc.wantErr {
				if !errors.Is(err, ErrBadEnv) {
					t.Fatalf("got %v", err)
				}
				return
			}
			if err != nil || (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
				t.Fatalf("got %v %v, want %v", got, err, tc.want)
			}
		})
	}
}
