package agent

import (
	"fmt"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/config"
)

// requestTimeout bounds one request to the server.
const requestTimeout = 30 * time.Second

// newClient builds the OpenBao API client the agent uses, from the coffer
// (or vault) block only: the library's reading of BAO_*/VAULT_* variables
// is off, so the environment never changes where the agent's token goes.
// The client does not retry by itself: the agent's own loops retry with
// backoff (retry { num_retries }), so failures are counted in one place.
func newClient(s config.AgentServer) (*api.Client, error) {
	cfg := api.NewConfig()
	if cfg.Error != nil {
		return nil, cfg.Error
	}
	cfg.DisableEnvironment = true
	cfg.Address = s.Address
	cfg.MaxRetries = 0
	cfg.Timeout = requestTimeout
	tlsCfg := &api.TLSConfig{
		CACert:        s.CACert,
		ClientCert:    s.ClientCert,
		ClientKey:     s.ClientKey,
		TLSServerName: s.TLSServerName,
		Insecure:      s.TLSSkipVerify,
	}
	if err := cfg.ConfigureTLS(tlsCfg); err != nil {
		return nil, fmt.Errorf("configure TLS for %s: %w", s.Address, err)
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.ClearToken()
	return c, nil
}

// withToken returns a copy of base that sends token.
func withToken(base *api.Client, token string) (*api.Client, error) {
	c, err := base.Clone()
	if err != nil {
		return nil, err
	}
	c.SetToken(token)
	return c, nil
}
