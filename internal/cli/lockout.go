package cli

import (
	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/lockout"
)

// lockoutPolicy builds the server-wide user lockout configuration from the
// user_lockout blocks of cfg (nil in dev mode) and the environment switch
// (COFFER_DISABLE_USER_LOCKOUT or VAULT_DISABLE_USER_LOCKOUT).
func lockoutPolicy(cfg *config.Server, getenv func(string) string) (lockout.Policy, error) {
	env, err := lockout.ParseEnvDisable(getenv)
	if err != nil {
		return lockout.Policy{}, err
	}
	p := lockout.Policy{EnvDisable: env, Stanzas: map[string]lockout.Settings{}}
	if cfg != nil {
		for _, ul := range cfg.UserLockouts {
			p.Stanzas[ul.Type] = lockout.Settings{
				Threshold: ul.Threshold, Duration: ul.Duration, CounterReset: ul.CounterReset, Disable: ul.Disable,
			}
		}
	}
	return p, nil
}
