package token

import (
	"context"
	"net/http"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func (s *Store) tidyPaths() []*framework.Path {
	return []*framework.Path{{
		Pattern:    "tidy",
		Fields:     map[string]*framework.FieldSchema{},
		Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: s.handleTidy},
		Help:       "Repair the token store's indexes and finish interrupted revocations, in the background.",
	}}
}

// handleTidy starts Tidy in the background and answers 202 with Vault's
// warning, or 200 with a warning when a run is already going.
func (s *Store) handleTidy(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
	started, err := s.startTidy()
	if err != nil {
		return nil, err
	}
	if !started {
		return &logical.Response{Warnings: []string{"Tidy operation already in progress."}}, nil
	}
	return &logical.Response{
		Status:   http.StatusAccepted,
		Warnings: []string{"Tidy operation successfully started. Any information from the operation will be printed to Coffer's server logs."},
	}, nil
}

// startTidy runs Tidy in a goroutine that Stop waits for (and cancels),
// unless one is running already.
func (s *Store) startTidy() (bool, error) {
	if !s.tidyMu.TryLock() {
		return false, nil
	}
	if !s.goBackground() {
		s.tidyMu.Unlock()
		return false, logical.ErrSealed
	}
	go func() {
		defer s.running.Done()
		defer s.tidyMu.Unlock()
		s.logger.Info("beginning tidy operation on tokens")
		res, err := s.Tidy(s.life)
		attrs := []any{"parent_indexes_deleted", res.ParentIndexes, "orphaned", res.Orphaned,
			"accessors_deleted", res.Accessors, "revoked", res.Revoked}
		if err != nil {
			s.logger.Error("token tidy finished with errors", append(attrs, "error", err.Error())...)
			return
		}
		s.logger.Info("finished tidy operation on tokens", attrs...)
	}()
	return true, nil
}
