// Package helm tests the chart in deploy/helm/coffer: it renders it with
// the Helm Go SDK (helm.sh/helm/v3, the library `helm template` runs),
// checks what the manifests say, and applies them to a real
// kube-apiserver (test/kubetest). It is a module of its own so that Helm's
// dependencies never enter Coffer's go.mod.
package helm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/cofferhq/coffer/test/kubetest"
)

// chartDir is the chart under test, relative to this package.
const chartDir = "../../deploy/helm/coffer"

// TestMain shares one real kube-apiserver among the tests that apply.
func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// rendered is one release's manifests, decoded.
type rendered struct {
	objs  []*unstructured.Unstructured
	notes string
}

// render renders the chart as `helm template NAME -n NS -f valuesFile
// --set …` would: valuesFile (relative to the chart, or "") over the
// chart's defaults, set over both.
func render(t *testing.T, name, ns, valuesFile string, set map[string]any) *rendered {
	t.Helper()
	r, err := tryRender(name, ns, valuesFile, set)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func tryRender(name, ns, valuesFile string, set map[string]any) (*rendered, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return nil, fmt.Errorf("load chart: %w", err)
	}
	user := map[string]any{}
	if valuesFile != "" {
		if user, err = chartutil.ReadValuesFile(filepath.Join(chartDir, valuesFile)); err != nil {
			return nil, fmt.Errorf("read %s: %w", valuesFile, err)
		}
	}
	user = chartutil.CoalesceTables(deepCopy(set), user)
	vals, err := chartutil.ToRenderValues(ch, user, chartutil.ReleaseOptions{Name: name, Namespace: ns, IsInstall: true}, nil)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return nil, err
	}
	out := &rendered{}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.HasSuffix(n, "NOTES.txt") {
			out.notes = files[n]
			continue
		}
		docs := releaseutil.SplitManifests(files[n])
		keys := make([]string, 0, len(docs))
		for k := range docs {
			keys = append(keys, k)
		}
		sort.Sort(releaseutil.BySplitManifestsOrder(keys))
		for _, k := range keys {
			js, err := yaml.YAMLToJSON([]byte(docs[k]))
			if err != nil {
				return nil, fmt.Errorf("%s: not YAML: %w\n%s", n, err, docs[k])
			}
			if strings.TrimSpace(string(js)) == "null" {
				continue
			}
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON(js); err != nil {
				return nil, fmt.Errorf("%s: not an object: %w\n%s", n, err, docs[k])
			}
			out.objs = append(out.objs, u)
		}
	}
	return out, nil
}

// deepCopy copies nested maps so that coalescing never changes a test's table.
func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			v = deepCopy(sub)
		}
		out[k] = v
	}
	return out
}

// find returns the object of that kind and name, failing when absent.
func (r *rendered) find(t *testing.T, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range r.objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %q among %v", kind, name, r.names())
	return nil
}

// has says whether an object of that kind exists.
func (r *rendered) has(kind string) bool {
	for _, o := range r.objs {
		if o.GetKind() == kind {
			return true
		}
	}
	return false
}

func (r *rendered) names() []string {
	var out []string
	for _, o := range r.objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	return out
}

// into converts an unstructured object into a typed one.
func into[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	var v T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, &v, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return &v
}

// errorOf renders and returns the error, failing when there is none.
func errorOf(t *testing.T, valuesFile string, set map[string]any) error {
	t.Helper()
	_, err := tryRender("coffer", "coffer", valuesFile, set)
	if err == nil {
		t.Fatal("the chart rendered; want an error")
	}
	return err
}

var errNoArg = errors.New("no such argument")

// argValue returns the value of -name=value among args.
func argValue(args []string, name string) (string, error) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "-"+name+"="); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("%w: -%s in %q", errNoArg, name, args)
}
