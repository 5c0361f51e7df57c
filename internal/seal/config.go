package seal

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/cofferhq/coffer/internal/physical"
)

// Seal types, as reported by seal status.
const (
	// TypeShamir: the unseal key is split among operators.
	TypeShamir = "shamir"
	// TypeStatic: the unseal key is read from a key file at start-up.
	TypeStatic = "static"
)

// configPath is where the seal configuration lives in physical storage, in
// plaintext: it is metadata the server needs while sealed and holds no
// secret.
const configPath = "core/seal-config"

// Config is the stored seal configuration.
type Config struct {
	Type            string `json:"type"`
	SecretShares    int    `json:"secret_shares"`
	SecretThreshold int    `json:"secret_threshold"`
}

func readConfig(ctx context.Context, p physical.Backend) (*Config, error) {
	e, err := p.Get(ctx, configPath)
	if err != nil {
		return nil, fmt.Errorf("read seal configuration: %w", err)
	}
	if e == nil {
		return nil, nil
	}
	var c Config
	if err := json.Unmarshal(e.Value, &c); err != nil {
		return nil, fmt.Errorf("decode seal configuration: %w", err)
	}
	return &c, nil
}

func writeConfig(ctx context.Context, p physical.Backend, c Config) error {
	e, err := configEntry(c)
	if err != nil {
		return err
	}
	if err := p.Put(ctx, e); err != nil {
		return fmt.Errorf("store seal configuration: %w", err)
	}
	return nil
}

// configEntry is the physical entry that stores c.
func configEntry(c Config) (*physical.Entry, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode seal configuration: %w", err)
	}
	return &physical.Entry{Key: configPath, Value: b}, nil
}
