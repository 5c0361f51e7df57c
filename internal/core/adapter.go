package core

import (
	"context"

	"github.com/cofferhq/coffer/internal/barrier"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/quota"
	"github.com/cofferhq/coffer/internal/system"
	"github.com/cofferhq/coffer/internal/token"
)

// sysAdapter presents the Core to the sys/ backend. Every method that needs
// the unsealed state answers logical.ErrSealed while sealed.
type sysAdapter struct{ c *Core }

var _ system.Core = sysAdapter{}

func (a sysAdapter) active() (*active, error) {
	st := a.c.state.Load()
	if st == nil {
		return nil, logical.ErrSealed
	}
	return st, nil
}

func (a sysAdapter) ListMounts(t system.Table) []system.MountInfo {
	st, err := a.active()
	if err != nil {
		return nil
	}
	return st.mounts.ListMounts(t)
}

func (a sysAdapter) Enable(ctx context.Context, t system.Table, m system.MountInfo) error {
	st, err := a.active()
	if err != nil {
		return err
	}
	return st.mounts.Enable(ctx, t, m)
}

func (a sysAdapter) Disable(ctx context.Context, t system.Table, path string) error {
	st, err := a.active()
	if err != nil {
		return err
	}
	return st.mounts.Disable(ctx, t, path)
}

func (a sysAdapter) Tune(ctx context.Context, t system.Table, path string, tn system.Tune) ([]string, error) {
	st, err := a.active()
	if err != nil {
		return nil, err
	}
	return st.mounts.Tune(ctx, t, path, tn)
}

func (a sysAdapter) Remount(ctx context.Context, from, to string) (string, error) {
	st, err := a.active()
	if err != nil {
		return "", err
	}
	return st.mounts.Remount(ctx, from, to)
}

func (a sysAdapter) RemountStatus(id string) (system.MigrationInfo, bool) {
	st, err := a.active()
	if err != nil {
		return system.MigrationInfo{}, false
	}
	return st.mounts.RemountStatus(id)
}

func (a sysAdapter) MountFor(path string) (system.MountInfo, bool) {
	st, err := a.active()
	if err != nil {
		return system.MountInfo{}, false
	}
	return st.mounts.MountFor(path)
}

func (a sysAdapter) ListPolicies(ctx context.Context) ([]string, error) {
	st, err := a.active()
	if err != nil {
		return nil, err
	}
	return st.policies.ListPolicies(ctx)
}

func (a sysAdapter) GetPolicy(ctx context.Context, name string) (string, bool, error) {
	st, err := a.active()
	if err != nil {
		return "", false, err
	}
	return st.policies.GetPolicy(ctx, name)
}

func (a sysAdapter) PutPolicy(ctx context.Context, name, text string) error {
	st, err := a.active()
	if err != nil {
		return err
	}
	return st.policies.PutPolicy(ctx, name, text)
}

func (a sysAdapter) DeletePolicy(ctx context.Context, name string) error {
	st, err := a.active()
	if err != nil {
		return err
	}
	return st.policies.DeletePolicy(ctx, name)
}

func (a sysAdapter) CapabilitiesOf(ctx context.Context, tok string, paths []string) (map[string][]string, error) {
	st, err := a.active()
	if err != nil {
		return nil, err
	}
	te, err := st.tokens.Lookup(ctx, tok)
	if err != nil {
		return nil, err
	}
	if te == nil {
		return nil, logical.CodedError(logical.ErrPermissionDenied, "permission denied")
	}
	return capabilities(ctx, st, te, paths)
}

func (a sysAdapter) CapabilitiesOfAccessor(ctx context.Context, accessor string, paths []string) (map[string][]string, error) {
	st, err := a.active()
	if err != nil {
		return nil, err
	}
	te, err := st.tokens.LookupAccessor(ctx, accessor)
	if err != nil {
		return nil, err
	}
	if te == nil {
		return nil, logical.InvalidRequest("invalid accessor")
	}
	return capabilities(ctx, st, te, paths)
}

func (a sysAdapter) MountVisible(ctx context.Context, tok, remoteAddr, routePath string) (bool, error) {
	st, err := a.active()
	if err != nil {
		return false, err
	}
	te, err := st.tokens.Lookup(ctx, tok)
	if err != nil {
		return false, err
	}
	if te == nil || !logical.AddrInCIDRs(te.BoundCIDRs, remoteAddr) {
		return false, logical.CodedError(logical.ErrPermissionDenied, "permission denied")
	}
	acl, err := tokenACL(ctx, st, te)
	if err != nil {
		return false, err
	}
	return acl.HasAccessUnder(routePath), nil
}

// capabilities answers sys/capabilities* with the very ACL a request of
// the token would be checked against (tokenACL).
func capabilities(ctx context.Context, st *active, te *token.Entry, paths []string) (map[string][]string, error) {
	acl, err := tokenACL(ctx, st, te)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]string, len(paths))
	for _, p := range paths {
		clean, err := logical.CleanPath(p)
		if err != nil {
			return nil, logical.InvalidRequest("path %q: %v", p, err)
		}
		out[p] = acl.Capabilities(clean)
	}
	return out, nil
}

func (a sysAdapter) Rotate(ctx context.Context) (system.KeyStatus, error) {
	if _, err := a.c.barrier.Rotate(ctx); err != nil {
		return system.KeyStatus{}, err
	}
	return a.KeyStatus(ctx)
}

func (a sysAdapter) KeyStatus(context.Context) (system.KeyStatus, error) {
	term, installed, n, err := a.c.barrier.KeyStatus()
	if err != nil {
		return system.KeyStatus{}, err
	}
	return system.KeyStatus{Term: term, InstallTime: installed, Encryptions: n}, nil
}

func (a sysAdapter) RotationConfig(context.Context) (barrier.RotationConfig, error) {
	return a.c.barrier.RotationConfig()
}

func (a sysAdapter) SetRotationConfig(ctx context.Context, rc barrier.RotationConfig) error {
	return a.c.barrier.SetRotationConfig(ctx, rc)
}

func (a sysAdapter) SealStatus(ctx context.Context) (system.SealStatus, error) {
	return a.c.SealStatus(ctx)
}

func (a sysAdapter) Initialize(ctx context.Context, shares, threshold int) (system.InitResult, error) {
	return a.c.Initialize(ctx, shares, threshold)
}

func (a sysAdapter) Unseal(ctx context.Context, share []byte, reset bool) (system.SealStatus, error) {
	return a.c.Unseal(ctx, share, reset)
}

func (a sysAdapter) Seal(ctx context.Context) error { return a.c.Seal(ctx) }

func (a sysAdapter) ListQuotas(context.Context) ([]string, error) {
	st, err := a.active()
	if err != nil {
		return nil, err
	}
	return st.quotas.List(), nil
}

func (a sysAdapter) GetQuota(_ context.Context, name string) (quota.Quota, bool, error) {
	st, err := a.active()
	if err != nil {
		return quota.Quota{}, false, err
	}
	q, found := st.quotas.Get(name)
	return q, found, nil
}

func (a sysAdapter) PutQuota(ctx context.Context, q quota.Quota) error {
	st, err := a.active()
	if err != nil {
		return err
	}
	return st.quotas.Put(ctx, q)
}

func (a sysAdapter) DeleteQuota(ctx context.Context, name string) error {
	st, err := a.active()
	if err != nil {
		return err
	}
	return st.quotas.Delete(ctx, name)
}

func (a sysAdapter) QuotaConfig(context.Context) (quota.Config, error) {
	st, err := a.active()
	if err != nil {
		return quota.Config{}, err
	}
	return st.quotas.Config(), nil
}

func (a sysAdapter) SetQuotaConfig(ctx context.Context, c quota.Config) error {
	st, err := a.active()
	if err != nil {
		return err
	}
	return st.quotas.SetConfig(ctx, c)
}
