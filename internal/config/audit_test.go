package config

import (
	"errors"
	"reflect"
	"testing"
)

const auditBase = "storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n}\n"

func TestAuditBlocks(t *testing.T) {
	t.Parallel()
	src := auditBase + `
disable_api_audit_creation = true
audit "file" "main" {
  description = "the main log"
  options {
    file_path     = "/var/log/coffer/audit.log"
    hmac_accessor = false
    mode          = "0640"
  }
}
audit "socket" "siem" {
  address     = "127.0.0.1:9090"
  local       = true
}
`
	s, err := Parse([]byte(src), "config.hcl")
	if err != nil {
		t.Fatal(err)
	}
	want := []Audit{
		{Type: "file", Path: "main", Description: "the main log", Line: 7,
			Options: map[string]string{"file_path": "/var/log/coffer/audit.log", "hmac_accessor": "false", "mode": "0640"}},
		{Type: "socket", Path: "siem", Local: true, Line: 15, Options: map[string]string{"address": "127.0.0.1:9090"}},
	}
	if !reflect.DeepEqual(s.Audits, want) || !s.DisableAPIAuditCreation {
		t.Fatalf("got %+v %v", s.Audits, s.DisableAPIAuditCreation)
	}
	js := `{"storage":{"inmem":{}},"listener":{"tcp":{"tls_disable":true}},
	"audit":[{"file":{"to-stdout":{"description":"d","options":{"file_path":"stdout","log_raw":"true"}}}}]}`
	s, err = Parse([]byte(js), "config.json")
	if err != nil || len(s.Audits) != 1 || s.Audits[0].Path != "to-stdout" || s.Audits[0].Options["log_raw"] != "true" {
		t.Fatalf("JSON shape: %+v %v", s, err)
	}

	bad := map[string]struct {
		src  string
		kind error
	}{
		"no path":        {`audit "file" { }`, ErrInvalidValue},
		"duplicate path": {"audit \"file\" \"a\" {}\naudit \"socket\" \"a\" {}", ErrDuplicate},
		"option twice":   {`audit "file" "a" { file_path = "x"` + "\n" + `options { file_path = "y" } }`, ErrDuplicate},
		"options value":  {`audit "file" "a" { options = "x" }`, ErrInvalidValue},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(auditBase+tc.src), "config.hcl")
			if !errors.Is(err, tc.kind) {
				t.Fatalf("got %v, want %v", err, tc.kind)
			}
		})
	}
}
