package approle

import (
	"context"
	"net/http"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func (b *backend) tidyPaths() []*framework.Path {
	return []*framework.Path{{
		Pattern:    "tidy/secret-id" + framework.OptionalTrailingSlash,
		Fields:     map[string]*framework.FieldSchema{},
		Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.handleTidy},
		Help:       "Delete expired secret IDs and dangling records now, in the background.",
	}}
}

// handleTidy starts a tidy in the background and answers 202 with Vault's
// warning, or 200 with a warning when one is running already.
func (b *backend) handleTidy(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
	if !b.tidyMu.TryLock() {
		return &logical.Response{Warnings: []string{"Tidy operation already in progress."}}, nil
	}
	started := b.goBackground(func(ctx context.Context) {
		defer b.tidyMu.Unlock()
		b.tidyLocked(ctx)
	})
	if !started {
		b.tidyMu.Unlock()
		return nil, logical.ErrSealed
	}
	return &logical.Response{
		Status:   http.StatusAccepted,
		Warnings: []string{"Tidy operation successfully started. Any information from the operation will be printed to Coffer's server logs."},
	}, nil
}

// runTidy tidies unless a tidy is running already.
func (b *backend) runTidy(ctx context.Context) {
	if !b.tidyMu.TryLock() {
		return
	}
	defer b.tidyMu.Unlock()
	b.tidyLocked(ctx)
}

func (b *backend) tidyLocked(ctx context.Context) {
	res, err := b.secrets.tidy(ctx)
	attrs := []any{"expired_deleted", res.Expired, "dangling_deleted", res.Dangling}
	if err != nil {
		b.logger.Error("approle secret ID tidy finished with errors", append(attrs, "error", err.Error())...)
		return
	}
	if res.Expired+res.Dangling > 0 {
		b.logger.Info("approle secret ID tidy", attrs...)
	}
}
