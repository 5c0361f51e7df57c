package lockout

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// The defaults, as in Vault.
const (
	DefaultThreshold    = 5
	DefaultDuration     = 15 * time.Minute
	DefaultCounterReset = 15 * time.Minute
)

// AllTypes names the user_lockout stanza that applies to every supported
// auth method type.
const AllTypes = "all"

// SupportedTypes are the auth method types user lockout applies to, as in
// Vault. Only userpass exists in Coffer today; approle plugs in by giving its
// login path a framework.Path.LoginAlias.
var SupportedTypes = []string{"userpass", "approle", "ldap"}

// Supported reports whether user lockout applies to an auth method type.
func Supported(mountType string) bool { return slices.Contains(SupportedTypes, mountType) }

// Settings is a partial configuration, as a user_lockout stanza or a mount's
// user_lockout_config tune holds it: a zero Threshold, Duration or
// CounterReset and a nil Disable are unset and inherit from the next level.
type Settings struct {
	Threshold    uint64        `json:"lockout_threshold,omitempty"`
	Duration     time.Duration `json:"lockout_duration,omitempty"`
	CounterReset time.Duration `json:"lockout_counter_reset,omitempty"`
	Disable      *bool         `json:"disable_lockout,omitempty"`
}

// IsZero reports whether s sets nothing.
func (s Settings) IsZero() bool { return s == Settings{} }

// over returns s with every field base sets and s does not.
func (s Settings) over(base Settings) Settings {
	if s.Threshold == 0 {
		s.Threshold = base.Threshold
	}
	if s.Duration == 0 {
		s.Duration = base.Duration
	}
	if s.CounterReset == 0 {
		s.CounterReset = base.CounterReset
	}
	if s.Disable == nil {
		s.Disable = base.Disable
	}
	return s
}

// Config is the lockout in force on one mount.
type Config struct {
	Threshold    uint64
	Duration     time.Duration
	CounterReset time.Duration
	Disabled     bool
}

// Policy is the server-wide part of the configuration: the user_lockout
// stanzas and the environment switch. The zero Policy gives Vault's
// defaults. A Policy is read-only once built and safe for concurrent use.
type Policy struct {
	// Stanzas maps "all" or an auth method type to its stanza.
	Stanzas map[string]Settings
	// EnvDisable, when set, overrides everything else: true turns the
	// lockout off everywhere, false turns it on everywhere.
	EnvDisable *bool
}

// Resolve returns the lockout in force on a mount of mountType whose tune
// sets tune (nil when it sets nothing): tune, then the stanza for the type,
// then the "all" stanza, then the defaults, field by field. Types user
// lockout does not apply to are always Disabled.
func (p Policy) Resolve(mountType string, tune *Settings) Config {
	if !Supported(mountType) {
		return Config{Disabled: true}
	}
	s := Settings{}
	if tune != nil {
		s = *tune
	}
	s = s.over(p.Stanzas[mountType]).over(p.Stanzas[AllTypes])
	s = s.over(Settings{Threshold: DefaultThreshold, Duration: DefaultDuration, CounterReset: DefaultCounterReset})
	c := Config{Threshold: s.Threshold, Duration: s.Duration, CounterReset: s.CounterReset, Disabled: s.Disable != nil && *s.Disable}
	if p.EnvDisable != nil {
		c.Disabled = *p.EnvDisable
	}
	return c
}

// EnvNames are the environment variables that switch user lockout off (or
// on) for the whole server, first match wins: Coffer's name, then Vault's.
var EnvNames = []string{"COFFER_DISABLE_USER_LOCKOUT", "VAULT_DISABLE_USER_LOCKOUT"}

// ParseEnvDisable reads the environment switch through getenv. It returns
// nil when no variable is set, and ErrBadEnv, naming the variable, when the
// value is not one strconv.ParseBool accepts.
func ParseEnvDisable(getenv func(string) string) (*bool, error) {
	for _, name := range EnvNames {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %s=%q: use true or false", ErrBadEnv, name, v)
		}
		return &b, nil
	}
	return nil, nil
}

// Tune key names, as Vault's sys/auth/<path>/tune takes them inside
// user_lockout_config. The names a tune read shows (lockout_counter_reset,
// disable_lockout) are accepted too, so a read-modify-write round-trips.
const (
	keyThreshold    = "lockout_threshold"
	keyDuration     = "lockout_duration"
	keyCounterReset = "lockout_counter_reset_duration"
	keyDisable      = "lockout_disable"
)

var tuneAliases = map[string]string{
	keyThreshold: keyThreshold, keyDuration: keyDuration,
	keyCounterReset: keyCounterReset, "lockout_counter_reset": keyCounterReset,
	keyDisable: keyDisable, "disable_lockout": keyDisable,
}

// ParseTune applies a user_lockout_config tune object to cur and returns the
// result; keys the object leaves out keep their value. A duration of
// "system" (or 0) and a threshold of 0 go back to inheriting. Numbers may be
// JSON numbers or strings, as Vault's clients send strings. Bad input is a
// logical.ErrInvalidRequest error naming the key.
func ParseTune(cur Settings, m map[string]any) (Settings, error) {
	seen := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		canon, ok := tuneAliases[k]
		if !ok {
			return cur, logical.InvalidRequest("user_lockout_config: unknown key %q (use %s, %s, %s or %s)", k, keyThreshold, keyDuration, keyCounterReset, keyDisable)
		}
		if prev, dup := seen[canon]; dup {
			return cur, logical.InvalidRequest("user_lockout_config: %q and %q set the same thing; give one", prev, k)
		}
		seen[canon] = k
		var err error
		switch v := m[k]; canon {
		case keyThreshold:
			cur.Threshold, err = parseThreshold(v)
		case keyDuration:
			cur.Duration, err = parseTuneDuration(v)
		case keyCounterReset:
			cur.CounterReset, err = parseTuneDuration(v)
		case keyDisable:
			var b bool
			b, err = parseBool(v)
			cur.Disable = &b
		}
		if err != nil {
			return cur, logical.InvalidRequest("user_lockout_config: %s: %v", k, err)
		}
	}
	return cur, nil
}

func parseThreshold(v any) (uint64, error) {
	s, err := scalarString(v)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("expected a whole number of attempts, got %q", s)
	}
	return n, nil
}

func parseTuneDuration(v any) (time.Duration, error) {
	if s, ok := v.(string); ok && strings.TrimSpace(s) == "system" {
		return 0, nil
	}
	return framework.ParseDuration(v)
}

func parseBool(v any) (bool, error) {
	if b, ok := v.(bool); ok {
		return b, nil
	}
	s, err := scalarString(v)
	if err != nil {
		return false, err
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("expected true or false, got %q", s)
	}
	return b, nil
}

// scalarString renders a JSON scalar (string or number) as text.
func scalarString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x), nil
	case fmt.Stringer: // json.Number
		return x.String(), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	}
	return "", fmt.Errorf("expected a string or a number")
}

// TuneView is how a tune read and a mount listing show a mount's settings,
// with Vault's key names; unset fields show as 0 and false, as in Vault.
func (s Settings) TuneView() map[string]any {
	return map[string]any{
		"user_lockout_threshold":              s.Threshold,
		"user_lockout_duration":               int64(s.Duration / time.Second),
		"user_lockout_counter_reset_duration": int64(s.CounterReset / time.Second),
		"user_lockout_disable":                s.Disable != nil && *s.Disable,
	}
}
