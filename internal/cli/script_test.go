package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
)

// TestMain lets testscript run this test binary as the "coffer" command,
// so scripts exercise Main exactly as the real binary does, and stops any
// throwaway database server the database scripts started.
func TestMain(m *testing.M) {
	testscript.Main(dbtestMain{m}, map[string]func(){
		"coffer": func() { os.Exit(Main(os.Args)) },
	})
}

// dbtestMain runs the tests through dbtest.Main.
type dbtestMain struct{ m *testing.M }

func (d dbtestMain) Run() int { return dbtest.Main(d.m) }

// TestScripts runs the CLI scripts in testdata/script. Each script starts
// its own dev server in the background on a free port ($PORT) and waits
// for it with waitserver; COFFER_ADDR already points there.
func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:   filepath.Join("testdata", "script"),
		Setup: scriptSetup,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitserver": waitServer,
			"waitactive": waitActive,
			"newcert":    newCert,
			"hangup":     hangup,
			"waitcert":   waitCert,
			"waitfile":   waitFile,
			"setenvfrom": setenvFrom,
			"httpget":    httpGet,
			"envsubst":   envsubst,
			"jwtkey":     jwtKey,
			"jwtsign":    jwtSign,
			"base64env":  base64Env,
		},
	})
}

func scriptSetup(e *testscript.Env) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	e.Setenv("PORT", strconv.Itoa(port))
	e.Setenv("COFFER_ADDR", "http://127.0.0.1:"+strconv.Itoa(port))
	e.Setenv("XDG_CONFIG_HOME", filepath.Join(e.WorkDir, ".config"))
	e.Setenv("COFFER_MAX_RETRIES", "0")
	// A non-dev server for scripts that initialise and unseal it themselves.
	conf := fmt.Sprintf("storage \"inmem\" {}\n\nlistener \"tcp\" {\n  address     = \"127.0.0.1:%d\"\n  tls_disable = true\n}\n", port)
	if err := os.WriteFile(filepath.Join(e.WorkDir, "server.hcl"), []byte(conf), 0o600); err != nil {
		return err
	}
	// The same server with a user_lockout stanza, for lockout.txtar.
	lockout := conf + "\nuser_lockout \"userpass\" {\n  lockout_threshold = 2\n}\n"
	if err := os.WriteFile(filepath.Join(e.WorkDir, "lockout.hcl"), []byte(lockout), 0o600); err != nil {
		return err
	}
	return writeTLSConfig(e.WorkDir, port)
}

// writeTLSConfig writes a self-signed certificate for 127.0.0.1, a static
// seal key and tls.hcl: a production-shaped server on file storage that
// auto-unseals.
func writeTLSConfig(dir string, port int) error {
	if err := writeCert(dir); err != nil {
		return err
	}
	seal := make([]byte, 32)
	if _, err := rand.Read(seal); err != nil {
		return err
	}
	conf := fmt.Sprintf(`storage "file" { path = %q }
listener "tcp" {
  address       = "127.0.0.1:%d"
  tls_cert_file = %q
  tls_key_file  = %q
}
seal "static" { key_file = %q }
pid_file = %q
`, filepath.Join(dir, "data"), port, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "seal.key"),
		filepath.Join(dir, "coffer.pid"))
	if err := os.WriteFile(filepath.Join(dir, "seal.key"), []byte(hex.EncodeToString(seal)), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "tls.hcl"), []byte(conf), 0o600)
}

// writeCert writes a new self-signed certificate for 127.0.0.1 to
// cert.pem and key.pem in dir.
func writeCert(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "coffer test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"cert.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// freePort asks the kernel for a port that is free now. Another process
// could take it before the server binds, which on loopback in a test is
// rare enough to accept.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitServer waits up to 20 seconds for sys/health on $PORT to answer
// with any status: an uninitialised or sealed server answers too. With the
// argument "tls" it probes over HTTPS without checking the certificate
// (the script itself then checks that clients do).
func waitServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) > 1 || (len(args) == 1 && args[0] != "tls") {
		ts.Fatalf("usage: waitserver [tls]")
	}
	url := "http://127.0.0.1:" + ts.Getenv("PORT") + "/v1/sys/health"
	client := &http.Client{Timeout: time.Second}
	if len(args) == 1 {
		url = "https" + url[len("http"):]
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // probe only
	}
	// Generous: a raft server answers only after its election, and CI
	// runs on two loaded cores.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("server on port %s did not become healthy", ts.Getenv("PORT"))
}

// waitActive waits up to 60 seconds for sys/health on $PORT to answer 200:
// unsealed and active. A raft node that has just been unsealed answers 503
// ("standby and no active node is known yet") until it has won its
// election and taken the active role, which takes seconds on loaded cores.
func waitActive(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: waitactive")
	}
	url := "http://127.0.0.1:" + ts.Getenv("PORT") + "/v1/sys/health"
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	last := "no answer"
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("server on port %s did not become active (last health answer: %s)", ts.Getenv("PORT"), last)
}

// setenvFrom sets NAME to the first group of REGEXP matched, line by line,
// against the previous command's stdout: "setenvfrom KEY1 '^Unseal Key 1: (\S+)$'".
func setenvFrom(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: setenvfrom NAME REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	m := re.FindStringSubmatch(ts.ReadFile("stdout"))
	if len(m) < 2 {
		ts.Fatalf("no match for %s in stdout", args[1])
	}
	ts.Setenv(args[0], m[1])
}

// base64Env sets the variable NAME to the base64 of FILE's content, as
// the injector passes an agent configuration.
func base64Env(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: base64env NAME FILE")
	}
	ts.Setenv(args[0], base64.StdEncoding.EncodeToString([]byte(ts.ReadFile(args[1]))))
}

// newCert replaces cert.pem and key.pem in the work directory.
func newCert(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: newcert")
	}
	ts.Check(writeCert(ts.Getenv("WORK")))
}

// waitCert waits up to 10 seconds for the server on $PORT to present the
// certificate now in cert.pem.
func waitCert(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: waitcert")
	}
	block, _ := pem.Decode([]byte(ts.ReadFile("cert.pem")))
	if block == nil {
		ts.Fatalf("cert.pem holds no certificate")
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		conn, err := tls.Dial("tcp", "127.0.0.1:"+ts.Getenv("PORT"), &tls.Config{InsecureSkipVerify: true}) // compared below
		if err == nil {
			served := conn.ConnectionState().PeerCertificates[0].Raw
			conn.Close()
			if string(served) == string(block.Bytes) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("the server did not start presenting the new certificate")
}

// waitfile waits until the named file exists (a server reopening its audit
// file after a SIGHUP).
func waitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfile PATH")
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(ts.MkAbs(args[0])); err == nil {
			return
		}
	}
	ts.Fatalf("%s did not appear", args[0])
}

// hangup sends SIGHUP to the server whose pid_file is coffer.pid, or with
// the argument "background" to every command the script started in the
// background (a dev server has no pid_file).
func hangup(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) > 1 || (len(args) == 1 && args[0] != "background") {
		ts.Fatalf("usage: hangup [background]")
	}
	if len(args) == 1 {
		cmds := ts.BackgroundCmds()
		if len(cmds) == 0 {
			ts.Fatalf("no command runs in the background")
		}
		for _, cmd := range cmds {
			ts.Check(cmd.Process.Signal(syscall.SIGHUP))
		}
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(ts.ReadFile("coffer.pid")))
	ts.Check(err)
	ts.Check(syscall.Kill(pid, syscall.SIGHUP))
}
