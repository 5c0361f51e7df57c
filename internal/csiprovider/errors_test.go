package csiprovider_test

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/cofferhq/coffer/internal/csiprovider"
	"github.com/cofferhq/coffer/internal/csiprovider/csitest"
)

// closedAddress is an http:// address on which nothing listens.
func closedAddress(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// TestMountErrors: each class of failure has its code (in the gRPC status
// details and at the start of the message), its gRPC code, and a message
// naming what to fix; none quotes the pod's token or a secret.
func TestMountErrors(t *testing.T) {
	t.Parallel()
	c := startCoffer(t, false)
	c.putKV(t, "app/db", map[string]any{"password": "hunter2-secret"})
	c.putKV(t, "other/db", map[string]any{"password": "not-yours"})
	tok := c.saToken(t, "system:serviceaccount:team-a:app", "coffer")
	obj := func(extra string) string { return "- objectName: f\n  secretPath: secret/data/app/db\n" + extra }
	fifo := filepath.Join(t.TempDir(), "ca.fifo")
	must(t, syscall.Mkfifo(fifo, 0o600))
	cases := map[string]struct {
		params map[string]string // merged over kvParams; "" deletes
		tokens map[string]string // nil: {"coffer": tok}
		code   string
		grpc   codes.Code
		want   []string
	}{
		"no roleName":        {params: map[string]string{"roleName": ""}, code: csiprovider.CodeBadParameters, grpc: codes.InvalidArgument, want: []string{`"roleName"`, "required"}},
		"bad address":        {params: map[string]string{"cofferAddress": "ftp://x"}, code: csiprovider.CodeBadParameters, want: []string{`"cofferAddress"`}},
		"no objects":         {params: map[string]string{"objects": ""}, code: csiprovider.CodeBadParameters, want: []string{`"objects"`}},
		"objects not YAML":   {params: map[string]string{"objects": "- [unclosed"}, code: csiprovider.CodeBadParameters, want: []string{`"objects"`, "not YAML"}},
		"dot-dot alias":      {params: map[string]string{"objects": obj("  objectAlias: ../../etc/cron.d/x\n")}, code: csiprovider.CodeBadParameters, want: []string{`"objects[0].objectAlias"`, "relative"}},
		"CA from /dev/zero":  {params: map[string]string{"cofferCACertPath": "/dev/zero"}, code: csiprovider.CodeBadParameters, want: []string{`"cofferCACertPath"`, "regular file"}},
		"CA from a FIFO":     {params: map[string]string{"cofferCACertPath": fifo}, code: csiprovider.CodeBadParameters, want: []string{`"cofferCACertPath"`, "regular file"}},
		"driver's ..data":    {params: map[string]string{"objects": obj("  objectAlias: ..data\n")}, code: csiprovider.CodeBadParameters, want: []string{`"objects[0].objectAlias"`, "..data"}},
		"absolute name":      {params: map[string]string{"objects": "- {objectName: /etc/passwd, secretPath: secret/data/app/db}"}, code: csiprovider.CodeBadParameters, want: []string{"objects[0]", "/etc/passwd"}},
		"dot-dot path":       {params: map[string]string{"objects": "- {objectName: f, secretPath: secret/data/../../sys/raw}"}, code: csiprovider.CodeBadParameters, want: []string{`"objects[0].secretPath"`}},
		"unknown key":        {params: map[string]string{"objects": obj("  secretKy: password\n")}, code: csiprovider.CodeBadParameters, want: []string{`"objects[0].secretKy"`, "unknown key"}},
		"bad objectType":     {params: map[string]string{"objects": obj("  objectType: blob\n")}, code: csiprovider.CodeBadParameters, want: []string{`"objects[0].objectType"`}},
		"bad permission":     {params: map[string]string{"objects": obj("  filePermission: \"0999\"\n")}, code: csiprovider.CodeBadParameters, want: []string{"filePermission", "octal"}},
		"duplicate file":     {params: map[string]string{"objects": obj("") + obj("")}, code: csiprovider.CodeBadParameters, want: []string{`"objects[1].objectAlias"`, "another object"}},
		"no tokens":          {tokens: map[string]string{}, code: csiprovider.CodeBadParameters, want: []string{"serviceAccount.tokens", "tokenRequests"}},
		"other audience":     {tokens: map[string]string{"vault": tok}, code: csiprovider.CodeBadParameters, want: []string{`"audience"`, `"coffer"`}},
		"no such auth mount": {params: map[string]string{"authMountPath": "nope"}, code: csiprovider.CodePermissionDenied, want: []string{"authMountPath", "auth/nope"}},
		"unknown role":       {params: map[string]string{"roleName": "ghost"}, code: csiprovider.CodePermissionDenied, grpc: codes.PermissionDenied, want: []string{`role "ghost"`, "auth/k8s-jwt", "team-a/app"}},
		"wrong subject": {tokens: map[string]string{"coffer": c.saToken(t, "system:serviceaccount:team-a:intruder", "coffer")},
			code: csiprovider.CodePermissionDenied, want: []string{`role "app"`, "auth/k8s-jwt"}},
		"read denied": {params: map[string]string{"objects": "- {objectName: f, secretPath: secret/data/other/db, secretKey: password}"},
			code: csiprovider.CodePermissionDenied, grpc: codes.PermissionDenied, want: []string{`role "app"`, "may not read secret/data/other/db", "policies"}},
		"no such path":    {params: map[string]string{"objects": "- {objectName: f, secretPath: secret/data/app/gone}"}, code: csiprovider.CodeObjectNotFound, grpc: codes.NotFound, want: []string{"secret/data/app/gone", "not found"}},
		"no such key":     {params: map[string]string{"objects": obj("  secretKey: pasword\n")}, code: csiprovider.CodeObjectNotFound, want: []string{`key "pasword"`, "keys password"}},
		"no such version": {params: map[string]string{"objects": obj("  objectVersion: \"7\"\n")}, code: csiprovider.CodeObjectNotFound, want: []string{"objectVersion 7"}},
		"unreachable":     {params: map[string]string{"cofferAddress": closedAddress(t)}, code: csiprovider.CodeServerUnreachable, grpc: codes.Unavailable, want: []string{"cannot reach Coffer", "refused"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cl := csitest.Serve(t, csiprovider.New(csiprovider.Config{}))
			p := kvParams(c, obj("  secretKey: password\n"))
			for k, v := range tc.params {
				p[k] = v
				if v == "" {
					delete(p, k)
				}
			}
			tokens := tc.tokens
			if tokens == nil {
				tokens = map[string]string{"coffer": tok}
			}
			r, err := cl.Mount(context.Background(), &v1alpha1.MountRequest{Attributes: attrs(t, p, tokens), Permission: "420"})
			if err == nil {
				t.Fatalf("Mount succeeded: %v", r)
			}
			if got := csiprovider.CodeOf(err); got != tc.code {
				t.Fatalf("code %q, want %q: %v", got, tc.code, err)
			}
			msg := status.Convert(err).Message()
			if !strings.HasPrefix(msg, tc.code+": ") {
				t.Errorf("message does not start with the code: %q", msg)
			}
			if tc.grpc != codes.OK && status.Code(err) != tc.grpc {
				t.Errorf("gRPC code %v, want %v", status.Code(err), tc.grpc)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			for _, secret := range []string{tok, "hunter2-secret", "not-yours"} {
				if strings.Contains(msg, secret) {
					t.Errorf("message leaks a secret: %q", msg)
				}
			}
		})
	}
}

// TestMountSealedBacksOff: a sealed server is ServerSealed; while the
// back-off lasts, further Mounts fail at once without a request to Coffer;
// once it has passed and the server is unsealed, Mount works again.
func TestMountSealedBacksOff(t *testing.T) {
	t.Parallel()
	c := startCoffer(t, false)
	c.putKV(t, "app/db", map[string]any{"password": "pw"})
	const backoff = 300 * time.Millisecond
	cl := csitest.Serve(t, csiprovider.New(csiprovider.Config{BackoffBase: backoff, BackoffMax: backoff}))
	req := &v1alpha1.MountRequest{Permission: "420", Attributes: attrs(t, kvParams(c, "- {objectName: f, secretPath: secret/data/app/db, secretKey: password}"),
		map[string]string{"coffer": c.saToken(t, "system:serviceaccount:team-a:app", "coffer")})}
	must(t, c.Core.Seal(context.Background()))
	_, err := cl.Mount(context.Background(), req)
	if csiprovider.CodeOf(err) != csiprovider.CodeSealed || status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "unseal") {
		t.Fatalf("sealed: %v", err)
	}
	before := c.requests.Load()
	for range 5 {
		_, err = cl.Mount(context.Background(), req)
		if csiprovider.CodeOf(err) != csiprovider.CodeSealed || !strings.Contains(err.Error(), "backing off") {
			t.Fatalf("during back-off: %v", err)
		}
	}
	if n := c.requests.Load() - before; n != 0 {
		t.Fatalf("%d requests reached Coffer during the back-off", n)
	}
	if _, err := c.Core.Unseal(context.Background(), c.UnsealKey, false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(backoff + 50*time.Millisecond)
	r, err := cl.Mount(context.Background(), req)
	if err != nil || files(t, r)["f"] != "pw" {
		t.Fatalf("after unseal: %v %v", r, err)
	}
}
