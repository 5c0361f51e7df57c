package csiprovider

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"sigs.k8s.io/secrets-store-csi-driver/pkg/util/fileutil"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

// FuzzParseAttributes: whatever the attributes, parsing returns a
// BadParameters error or objects whose files are safe to write below the
// pod's volume and whose paths are clean; it never panics.
func FuzzParseAttributes(f *testing.F) {
	tokens := `{"coffer":{"token":"x.y.z","expirationTimestamp":"2030-01-01T00:00:00Z"}}`
	for _, objects := range []string{
		"- {objectName: a, secretPath: secret/data/app, secretKey: k}",
		"array:\n  - |\n    objectName: a\n    secretPath: secret/data/app\n    objectType: cert\n",
		"- objectName: db/url\n  secretPath: database/creds/app\n  method: POST\n  secretArgs: {ttl: 1h}\n  filePermission: 0640\n",
		"- {objectName: ../x, secretPath: a}",
		"- {objectName: a, objectAlias: /etc/x, secretPath: a/../b}",
		"- {objectName: a, secretPath: a, objectVersion: \"2\", encoding: base64}",
		"[",
		"- {objectName: ..data, secretPath: a}",
		"- {objectName: a, objectAlias: ..2026_12_01/x, secretPath: a}",
	} {
		b, _ := json.Marshal(map[string]string{"roleName": "app", "cofferAddress": "http://127.0.0.1:8200", "objects": objects,
			"csi.storage.k8s.io/serviceAccount.tokens": tokens})
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, attrs string) {
		p, err := parseAttributes(attrs, "")
		if err != nil {
			var me *MountError
			if !errors.As(err, &me) || me.Code != CodeBadParameters || strings.Contains(err.Error(), "x.y.z") {
				t.Fatalf("error %v", err)
			}
			return
		}
		for _, o := range p.objects {
			// The driver's own check, which would otherwise fail the
			// mount after Coffer was asked.
			if err := fileutil.Validate([]*v1alpha1.File{{Path: o.file()}}); err != nil {
				t.Fatalf("file %q passed, the driver refuses it: %v", o.file(), err)
			}
			if !safeFile(o.file()) || !cleanPath(o.Path) || strings.HasPrefix(o.file(), "/") {
				t.Fatalf("object %+v passed", o)
			}
			for _, seg := range strings.Split(o.file(), "/") {
				if seg == ".." || seg == "" {
					t.Fatalf("file %q passed", o.file())
				}
			}
		}
	})
}
