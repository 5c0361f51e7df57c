package cli

import (
	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/system"
)

// unauthedDisabled lists the paths a listener's
// disable_unauthed_rekey_endpoints and
// disable_unauthed_generate_root_endpoints remove from it.
func unauthedDisabled(lc config.Listener) []string {
	var out []string
	add := func(paths []string) {
		for _, p := range paths {
			out = append(out, "sys/"+p)
		}
	}
	if lc.DisableUnauthedRekeyEndpoints {
		add(system.UnauthedRekeyPaths)
	}
	if lc.DisableUnauthedGenerateRootEndpoints {
		add(system.UnauthedGenerateRootPaths)
	}
	return out
}
