package cli

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// What SIGHUP reloads from the file: the log level unless a flag set it,
// and nothing at all when the file no longer loads.
func TestConfigReloaderLogLevel(t *testing.T) {
	t.Parallel()
	const base = "storage \"inmem\" {}\nlistener \"tcp\" {\n  address = \"127.0.0.1:0\"\n  tls_disable = true\n}\n"
	cases := map[string]struct {
		file      string
		levelFlag string
		want      slog.Level
		log       string
	}{
		"level raised":       {file: base + "log_level = \"debug\"\n", want: slog.LevelDebug, log: "log level changed"},
		"level lowered":      {file: base + "log_level = \"error\"\n", want: slog.LevelError},
		"flag wins":          {file: base + "log_level = \"debug\"\n", levelFlag: "info", want: slog.LevelInfo},
		"file does not load": {file: base + "log_level = \"debug\"\nno_such_key = 1\n", want: slog.LevelInfo, log: "does not load"},
		"unchanged":          {file: base, want: slog.LevelInfo, log: "configuration reloaded"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "coffer.hcl")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			lv := new(slog.LevelVar)
			logger, _, err := newLogger(&out, lv, "info", "text")
			if err != nil {
				t.Fatal(err)
			}
			r := &configReloader{path: path, levelFlag: tc.levelFlag, level: lv, logger: logger}
			r.reload()
			if lv.Level() != tc.want {
				t.Fatalf("level %v, want %v", lv.Level(), tc.want)
			}
			if !strings.Contains(out.String(), tc.log) {
				t.Fatalf("log %q lacks %q", out.String(), tc.log)
			}
		})
	}
}
