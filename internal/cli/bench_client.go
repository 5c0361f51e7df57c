package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	"github.com/openbao/openbao/api/v2"
	ucli "github.com/urfave/cli/v2"

	"github.com/cofferhq/coffer/internal/bench"
)

// kvReadClient is the kv-read-client workload: KV v2 reads of a random key
// through the published Vault-API Go client (github.com/openbao/openbao/api/v2,
// KVv2(...).Get, which decodes the response), as applications read
// secrets, from -clients workers sharing one client. It is judged by the
// server's CPU per request, which includes nothing of the client's.
func (s *benchServer) kvReadClient(c *ucli.Context, cfg bench.Config, round int) (*bench.Result, error) {
	cfg.CPU = bench.ProcCPU(s.cmd.Process.Pid)
	stop := s.profile(c, "kv-read-client", round)
	res, err := clientReads(c, cfg, s.addr, s.token)
	return res, errors.Join(err, stop())
}

// bareHTTPClient is kv-read-client's ceiling: the same client and reads
// against the bare-http process, which answers every one with a KV read's
// body. The client's CPU per request, on the same cores, is what
// kv-read-client's server shares them with: its server is judged against
// a bare handler driven by the same client.
func (s *benchServer) bareHTTPClient(c *ucli.Context, cfg bench.Config) (*bench.Result, error) {
	if err := s.startBareOnce(c.Context); err != nil {
		return nil, err
	}
	cfg.CPU = bench.ProcCPU(s.bare.cmd.Process.Pid)
	return clientReads(c, cfg, s.bare.addr, s.token)
}

// clientReads runs the reads of kv-read-client against addr.
func clientReads(c *ucli.Context, cfg bench.Config, addr, token string) (*bench.Result, error) {
	conf := api.DefaultConfig()
	conf.Address = addr
	conf.HttpClient = bench.NewClient(cfg.Clients)
	conf.MaxRetries = 0
	client, err := api.NewClient(conf)
	if err != nil {
		return nil, fmt.Errorf("vault api client: %w", err)
	}
	defer conf.HttpClient.CloseIdleConnections()
	client.SetToken(token)
	kv := client.KVv2("secret")
	keys := c.Int("keys")
	res := bench.Run(c.Context, cfg, func(ctx context.Context, _ *http.Client, _, _ int) error {
		sec, err := kv.Get(ctx, "bench/key-"+strconv.Itoa(rand.IntN(keys)))
		if err != nil {
			return err
		}
		if sec == nil || len(sec.Data) == 0 {
			return errors.New("empty secret")
		}
		return nil
	})
	return &res, nil
}

// fetchProfile saves the server's sys/pprof/<name> (the query included)
// as file in dir.
func (s *benchServer) fetchProfile(ctx context.Context, dir, name, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.addr+"/v1/sys/pprof/"+name, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("sys/pprof/%s: status %d", name, resp.StatusCode)
	}
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, file), body, 0o600)
}
