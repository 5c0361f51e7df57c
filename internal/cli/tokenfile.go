package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tokenFilePath is where `coffer login` keeps the token:
// $XDG_CONFIG_HOME/coffer/token, or the platform's config directory.
func tokenFilePath(getenv func(string) string) (string, error) {
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		var err error
		if dir, err = os.UserConfigDir(); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, "coffer", "token"), nil
}

// readTokenFile returns the stored token, or "" when there is none.
func readTokenFile(getenv func(string) string) (string, error) {
	p, err := tokenFilePath(getenv)
	if err != nil {
		return "", nil // no config directory means no stored token
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// writeTokenFile stores token readable by the owner only (file 0600 in a
// 0700 directory), replacing any previous token atomically.
func writeTokenFile(getenv func(string) string, token string) (string, error) {
	p, err := tokenFilePath(getenv)
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".token-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // after a successful rename this is a no-op
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", err
	}
	if _, err := tmp.WriteString(token); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return "", fmt.Errorf("replace %s: %w", p, err)
	}
	return p, nil
}
