package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/internal/logical"
)

// clusterInfo is the cluster's identity, kept in the barrier at clusterKey.
type clusterInfo struct {
	ID string `json:"id"`
	// Name is the configured cluster_name when the store was set up, or a
	// generated one; a cluster_name in the configuration overrides it when
	// reported, as in Vault.
	Name string `json:"name,omitempty"`
}

// newClusterInfo is the identity of a new store: a random ID, and the
// configured name or a generated "coffer-cluster-<8 hex>" (Vault's
// "vault-cluster-<8 hex>").
func (c *Core) newClusterInfo() clusterInfo {
	return clusterInfo{ID: uuid.NewString(), Name: c.nameForStore()}
}

func (c *Core) nameForStore() string {
	if c.conf.ClusterName != "" {
		return c.conf.ClusterName
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return "coffer-cluster-" + hex.EncodeToString(b)
}

// loadCluster reads the cluster identity after an unseal, giving a store
// from before names were kept one now, and records what sys/health and
// sys/seal-status report.
func (c *Core) loadCluster(ctx context.Context) (clusterInfo, error) {
	var ci clusterInfo
	if _, err := logical.GetJSON(ctx, c.barrier, clusterKey, &ci); err != nil {
		return ci, fmt.Errorf("read cluster identity: %w", err)
	}
	if ci.Name == "" {
		ci.Name = c.nameForStore()
		if err := logical.PutJSON(ctx, c.barrier, clusterKey, ci); err != nil {
			return ci, fmt.Errorf("write cluster name: %w", err)
		}
	}
	name := ci.Name
	if c.conf.ClusterName != "" {
		name = c.conf.ClusterName
	}
	c.clusterID.Store(ci.ID)
	c.clusterName.Store(name)
	return ci, nil
}
