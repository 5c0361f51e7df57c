package framework

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestSecretRouting(t *testing.T) {
	t.Parallel()
	var revoked, renewed string
	creds := &Secret{
		Type: "creds", DefaultTTL: time.Minute,
		Renew: func(_ context.Context, req *logical.Request) (*logical.Response, error) {
			renewed = req.Secret.InternalData["user"].(string)
			return &logical.Response{Secret: &logical.Secret{TTL: req.Secret.Increment}}, nil
		},
		Revoke: func(_ context.Context, req *logical.Request) (*logical.Response, error) {
			revoked = req.Secret.InternalData["user"].(string)
			return nil, nil
		},
	}
	static := &Secret{Type: "static", Revoke: func(context.Context, *logical.Request) (*logical.Response, error) { return nil, nil }}
	b := &Backend{Secrets: []*Secret{creds, static}}

	resp := creds.Response(map[string]any{"username": "u1"}, map[string]any{"user": "u1"})
	sec := resp.Secret
	if sec.SecretType() != "creds" || !sec.Renewable || sec.TTL != time.Minute || resp.Data["username"] != "u1" {
		t.Fatalf("leased response: %+v", sec)
	}
	if _, leaked := resp.Data[logical.SecretTypeKey]; leaked {
		t.Fatal("internal data reached the client data")
	}
	sec.Increment = 5 * time.Minute
	r, err := b.HandleRequest(context.Background(), &logical.Request{Operation: logical.RenewOperation, Path: "creds/app", Secret: sec})
	if err != nil || renewed != "u1" || r.Secret.TTL != 5*time.Minute {
		t.Fatalf("renew: %v %q %+v", err, renewed, r)
	}
	if _, err := b.HandleRequest(context.Background(), &logical.Request{Operation: logical.RevokeOperation, Path: "creds/app", Secret: sec}); err != nil || revoked != "u1" {
		t.Fatalf("revoke: %v %q", err, revoked)
	}

	cases := map[string]struct {
		req  *logical.Request
		want error
	}{
		"no secret":       {&logical.Request{Operation: logical.RevokeOperation}, logical.ErrInvalidRequest},
		"not renewable":   {&logical.Request{Operation: logical.RenewOperation, Secret: static.Response(nil, nil).Secret}, logical.ErrInvalidRequest},
		"unknown type":    {&logical.Request{Operation: logical.RevokeOperation, Secret: &logical.Secret{InternalData: map[string]any{logical.SecretTypeKey: "gone"}}}, logical.ErrUnsupportedOperation},
		"unleased secret": {&logical.Request{Operation: logical.RevokeOperation, Secret: &logical.Secret{}}, logical.ErrUnsupportedOperation},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := b.HandleRequest(context.Background(), tc.req); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if static.Response(nil, nil).Secret.Renewable {
		t.Fatal("a secret without Renew must not be renewable")
	}
}
