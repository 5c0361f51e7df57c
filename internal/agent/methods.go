package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/config"
)

// maxCredentialFile bounds what is read from a credential file; a JWT or
// token is a few KiB.
const maxCredentialFile = 64 << 10

// login is what one auto-auth attempt yields.
type login struct {
	token     string
	ttl       time.Duration
	renewable bool
}

// method obtains a token from the server. Implementations keep the last
// credential they read when it may be removed after reading, so a later
// re-login still works, as Vault Agent does.
type method interface {
	login(ctx context.Context, c *api.Client) (login, error)
}

// newMethod returns the method for m.
func newMethod(m config.AuthMethod) (method, error) {
	switch m.Type {
	case config.MethodKubernetes:
		return &jwtMethod{mount: m.MountPath, role: m.Role, file: credFile{path: m.TokenPath}}, nil
	case config.MethodJWT:
		return &jwtMethod{mount: m.MountPath, role: m.Role, file: credFile{path: m.TokenPath, remove: m.RemoveAfterReading}}, nil
	case config.MethodAppRole:
		a := &approleMethod{mount: m.MountPath, roleID: credFile{path: m.RoleIDFile}}
		if m.SecretIDFile != "" {
			a.secretID = &credFile{path: m.SecretIDFile, remove: m.RemoveAfterReading}
		}
		return a, nil
	case config.MethodTokenFile:
		return &tokenFileMethod{file: credFile{path: m.TokenPath}}, nil
	}
	return nil, fmt.Errorf("unknown auto_auth method %q", m.Type)
}

// credFile reads a credential from a file, optionally removing it after
// reading and then answering with the cached value. Safe for concurrent use.
type credFile struct {
	path   string
	remove bool

	mu     sync.Mutex
	cached string
}

func (f *credFile) read() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := readLimited(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && f.cached != "":
		return f.cached, nil
	case err != nil:
		return "", fmt.Errorf("read %s: %w", f.path, errors.Unwrap(err))
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		if f.cached != "" {
			return f.cached, nil
		}
		return "", fmt.Errorf("%s is empty", f.path)
	}
	f.cached = v
	if f.remove {
		if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("remove %s after reading: %w", f.path, errors.Unwrap(err))
		}
	}
	return v, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCredentialFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxCredentialFile {
		return nil, fmt.Errorf("%s: %w", path, errTooLarge)
	}
	return b, nil
}

var errTooLarge = errors.New("credential file is larger than 64 KiB")

// loginWith writes a login request and turns the answer into a login.
func loginWith(ctx context.Context, c *api.Client, path string, data map[string]any) (login, error) {
	sec, err := c.Logical().WriteWithContext(ctx, path, data)
	if err != nil {
		return login{}, fmt.Errorf("login at %s: %w", path, err)
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return login{}, fmt.Errorf("login at %s: the server answered without a token", path)
	}
	return login{
		token:     sec.Auth.ClientToken,
		ttl:       time.Duration(sec.Auth.LeaseDuration) * time.Second,
		renewable: sec.Auth.Renewable,
	}, nil
}

// jwtMethod serves kubernetes and jwt: a JWT from a file, sent with a role
// to <mount>/login.
type jwtMethod struct {
	mount, role string
	file        credFile
}

func (m *jwtMethod) login(ctx context.Context, c *api.Client) (login, error) {
	jwt, err := m.file.read()
	if err != nil {
		return login{}, err
	}
	return loginWith(ctx, c, m.mount+"/login", map[string]any{"role": m.role, "jwt": jwt})
}

// approleMethod logs in with a role ID and, when configured, a secret ID.
type approleMethod struct {
	mount    string
	roleID   credFile
	secretID *credFile
}

func (m *approleMethod) login(ctx context.Context, c *api.Client) (login, error) {
	roleID, err := m.roleID.read()
	if err != nil {
		return login{}, err
	}
	data := map[string]any{"role_id": roleID}
	if m.secretID != nil {
		sid, err := m.secretID.read()
		if err != nil {
			return login{}, err
		}
		data["secret_id"] = sid
	}
	return loginWith(ctx, c, m.mount+"/login", data)
}

// tokenFileMethod uses a token from a file as it is, after asking the
// server what it is (lookup-self: its TTL and whether it renews).
type tokenFileMethod struct {
	file credFile
}

func (m *tokenFileMethod) login(ctx context.Context, c *api.Client) (login, error) {
	tok, err := m.file.read()
	if err != nil {
		return login{}, err
	}
	tc, err := withToken(c, tok)
	if err != nil {
		return login{}, err
	}
	sec, err := tc.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return login{}, fmt.Errorf("look up the token from %s: %w", m.file.path, err)
	}
	ttl, err := sec.TokenTTL()
	if err != nil {
		return login{}, fmt.Errorf("look up the token from %s: %w", m.file.path, err)
	}
	renewable, _ := sec.TokenIsRenewable()
	return login{token: tok, ttl: ttl, renewable: renewable}, nil
}
