package audit

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// TestStoredJSONHashedLikeRaw: a KV read's data (logical.StoredJSON) is
// audited exactly as the same text as json.RawMessage: every string HMAC'd.
func TestStoredJSONHashedLikeRaw(t *testing.T) {
	t.Parallel()
	e := valueEnc{salt: NewSalt(testKey)}
	text := `{"password":"s3cr3t","n":12,"l":["x"]}`
	got := string(e.append(nil, map[string]any{"data": logical.StoredJSON(text)}, false))
	want := string(e.append(nil, map[string]any{"data": json.RawMessage(text)}, false))
	if got != want {
		t.Fatalf("stored JSON audited as\n%s\nwant\n%s", got, want)
	}
	if len(got) == 0 || !json.Valid([]byte(got)) || strings.Contains(got, "s3cr3t") {
		t.Fatalf("audited data %s: invalid JSON or the secret in clear", got)
	}
}
