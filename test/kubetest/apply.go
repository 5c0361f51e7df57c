package kubetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
)

// FieldManager is the field manager of the objects Apply writes.
const FieldManager = "coffer-kubetest"

// applier holds the dynamic client and the REST mapper of a cluster,
// made on first use.
type applier struct {
	once   sync.Once
	err    error
	client dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func (c *Cluster) applier() (*applier, error) {
	a := &c.apply
	a.once.Do(func() {
		a.client, a.err = dynamic.NewForConfig(c.Config)
		a.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Client.Discovery()))
	})
	return a, a.err
}

// DecodeManifests reads a stream of YAML or JSON documents (kubectl
// apply -f's input) into objects, skipping empty documents.
func DecodeManifests(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("decode manifest %d: %w", len(out)+1, err)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

// TryApply server-side applies obj, as `kubectl apply --server-side`
// does, and returns what the API server stored. A namespaced object that
// names no namespace goes into ns. A kind the API server does not serve
// yet (a CRD just created) is looked up again until ctx ends.
func (c *Cluster) TryApply(ctx context.Context, ns string, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	a, err := c.applier()
	if err != nil {
		return nil, err
	}
	gvk := obj.GroupVersionKind()
	var m *meta.RESTMapping
	for {
		m, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err == nil {
			break
		}
		if !meta.IsNoMatchError(err) {
			return nil, fmt.Errorf("map %s: %w", gvk, err)
		}
		a.mapper.Reset()
		if err := sleepCtx(ctx); err != nil {
			return nil, fmt.Errorf("map %s: the API server does not serve it: %w", gvk, err)
		}
	}
	res := dynamic.ResourceInterface(a.client.Resource(m.Resource))
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		if obj.GetNamespace() == "" {
			obj = obj.DeepCopy()
			obj.SetNamespace(ns)
		}
		res = a.client.Resource(m.Resource).Namespace(obj.GetNamespace())
	}
	return res.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
}

// Apply applies every object (see TryApply), failing the test at the
// first the API server refuses, and returns what it stored. Cluster-scoped
// objects are deleted when the test ends, so that one test's webhook or
// binding never reaches another's.
func (c *Cluster) Apply(t testing.TB, ns string, objs ...*unstructured.Unstructured) []*unstructured.Unstructured {
	t.Helper()
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
		got, err := c.TryApply(ctx, ns, o)
		cancel()
		if err != nil {
			t.Fatalf("kubetest: apply %s %s: %v", o.GetKind(), o.GetName(), err)
		}
		if got.GetNamespace() == "" {
			c.deleteLater(t, got)
		}
		out = append(out, got)
	}
	return out
}

// deleteLater deletes a cluster-scoped object when the test ends.
func (c *Cluster) deleteLater(t testing.TB, obj *unstructured.Unstructured) {
	a, _ := c.applier()
	gvk := obj.GroupVersionKind()
	t.Cleanup(func() {
		m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		_ = a.client.Resource(m.Resource).Delete(ctx, obj.GetName(), metav1.DeleteOptions{})
	})
}

// sleepCtx waits a moment before the next look, or until ctx ends.
func sleepCtx(ctx context.Context) error {
	t := time.NewTimer(200 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
