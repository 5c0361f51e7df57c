package helm

import (
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

// TestChartLint runs Helm's own linter (`helm lint --strict`: warnings
// count) with the default and the production values.
func TestChartLint(t *testing.T) {
	for name, file := range map[string]string{"dev": "", "production": "values-production.yaml"} {
		t.Run(name, func(t *testing.T) {
			vals := map[string]any{}
			if file != "" {
				v, err := chartutil.ReadValuesFile(filepath.Join(chartDir, file))
				if err != nil {
					t.Fatal(err)
				}
				vals = v
			}
			res := lint.All(chartDir, vals, "coffer", false)
			for _, m := range res.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", m)
				}
			}
		})
	}
}
