package config

import (
	"net/url"
	"os"

	"github.com/hashicorp/hcl/hcl/ast"
)

// RetryJoin is one retry_join block of storage "raft": a member whose API
// a new node asks to join at start-up. The files are read when the
// configuration loads (LeaderCACert and the others then hold PEM).
type RetryJoin struct {
	LeaderAPIAddr        string
	LeaderCACertFile     string
	LeaderClientCertFile string
	LeaderClientKeyFile  string
	LeaderTLSServerName  string
	// LeaderCACert, LeaderClientCert and LeaderClientKey are the files'
	// PEM contents (the key is a secret: never logged).
	LeaderCACert, LeaderClientCert, LeaderClientKey string
	Line                                            int
}

// splitRetryJoin takes the retry_join blocks out of a storage "raft" body
// (there may be several, which the generic body reader would call
// duplicates) and reads them.
func (d *decoder) splitRetryJoin(r *RaftStorage, body *ast.ObjectType) (*ast.ObjectType, error) {
	rest := &ast.ObjectType{Lbrace: body.Lbrace, Rbrace: body.Rbrace, List: &ast.ObjectList{}}
	for _, item := range body.List.Items {
		key, err := d.key(item.Keys[0])
		if err != nil {
			return nil, err
		}
		if key != "retry_join" {
			rest.List.Add(item)
			continue
		}
		var blocks []*ast.ObjectType
		switch v := item.Val.(type) {
		case *ast.ObjectType:
			blocks = append(blocks, v)
		case *ast.ListType:
			for _, e := range v.List {
				o, ok := e.(*ast.ObjectType)
				if !ok {
					return nil, d.errorf(e.Pos(), ErrInvalidValue, "retry_join must be a block")
				}
				blocks = append(blocks, o)
			}
		default:
			return nil, d.errorf(item.Val.Pos(), ErrInvalidValue, "retry_join must be a block: retry_join { leader_api_addr = \"https://node1:8200\" }")
		}
		for _, b := range blocks {
			j, err := d.retryJoin(b)
			if err != nil {
				return nil, err
			}
			r.RetryJoin = append(r.RetryJoin, j)
		}
	}
	return rest, nil
}

func (d *decoder) retryJoin(body *ast.ObjectType) (RetryJoin, error) {
	j := RetryJoin{Line: body.Pos().Line}
	fields := map[string]func(ast.Node) error{
		"leader_api_addr":         d.stringInto(&j.LeaderAPIAddr, "leader_api_addr"),
		"leader_ca_cert_file":     d.stringInto(&j.LeaderCACertFile, "leader_ca_cert_file"),
		"leader_client_cert_file": d.stringInto(&j.LeaderClientCertFile, "leader_client_cert_file"),
		"leader_client_key_file":  d.stringInto(&j.LeaderClientKeyFile, "leader_client_key_file"),
		"leader_tls_servername":   d.stringInto(&j.LeaderTLSServerName, "leader_tls_servername"),
	}
	seen, err := d.body(body, `storage "raft" retry_join`, fields)
	if err != nil {
		return j, err
	}
	if j.LeaderAPIAddr == "" {
		return j, d.errorf(body.Pos(), ErrMissing, "retry_join needs leader_api_addr (auto_join discovery is not supported)")
	}
	if u, err := url.Parse(j.LeaderAPIAddr); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return j, d.errorf(seen["leader_api_addr"], ErrInvalidValue, "leader_api_addr %q must be a URL such as https://node1:8200", j.LeaderAPIAddr)
	}
	for _, f := range []struct {
		key, path string
		dst       *string
	}{
		{"leader_ca_cert_file", j.LeaderCACertFile, &j.LeaderCACert},
		{"leader_client_cert_file", j.LeaderClientCertFile, &j.LeaderClientCert},
		{"leader_client_key_file", j.LeaderClientKeyFile, &j.LeaderClientKey},
	} {
		if f.path == "" {
			continue
		}
		b, err := os.ReadFile(f.path)
		if err != nil {
			return j, d.errorf(seen[f.key], ErrInvalidValue, "%s: cannot read %q: %v", f.key, f.path, err)
		}
		*f.dst = string(b)
	}
	if (j.LeaderClientCertFile == "") != (j.LeaderClientKeyFile == "") {
		return j, d.errorf(body.Pos(), ErrInvalidValue, "retry_join needs both leader_client_cert_file and leader_client_key_file, or neither")
	}
	return j, nil
}
