package kv

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

func benchBackend(b *testing.B) logical.Backend {
	b.Helper()
	be, err := Factory(context.Background(), &logical.BackendConfig{
		Storage: logical.NewInmemStorage(), Options: map[string]string{"version": "2"},
	})
	if err != nil {
		b.Fatal(err)
	}
	return be
}

// secretBody is a typical database secret, as the HTTP layer decodes it.
func secretBody() map[string]any {
	return map[string]any{"data": map[string]any{
		"username": "app", "password": "s3cr3t-s3cr3t-s3cr3t", "host": "db.internal", "port": json.Number("5432"),
	}}
}

func BenchmarkReadV2(b *testing.B) {
	be := benchBackend(b)
	ctx := context.Background()
	const keys = 100
	for i := range keys {
		for range 3 { // a few versions, as a live secret has
			req := &logical.Request{Operation: logical.UpdateOperation, Path: fmt.Sprintf("data/app/db%d", i), Data: secretBody()}
			if _, err := be.HandleRequest(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			req := &logical.Request{Operation: logical.ReadOperation, Path: fmt.Sprintf("data/app/db%d", i%keys)}
			r, err := be.HandleRequest(ctx, req)
			if err != nil || r == nil {
				b.Fatal(r, err)
			}
			i++
		}
	})
}

func BenchmarkWriteV2(b *testing.B) {
	be := benchBackend(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			req := &logical.Request{Operation: logical.UpdateOperation, Path: fmt.Sprintf("data/app/db%d", i%100), Data: secretBody()}
			if _, err := be.HandleRequest(ctx, req); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
