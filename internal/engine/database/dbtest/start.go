package dbtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// stops are the stop functions of the throwaway servers this process
// started.
var (
	stopMu sync.Mutex
	stops  []func()
)

func stopAll() {
	stopMu.Lock()
	defer stopMu.Unlock()
	for _, stop := range stops {
		stop()
	}
	stops = nil
}

func onStop(f func()) {
	stopMu.Lock()
	defer stopMu.Unlock()
	stops = append(stops, f)
}

// runner runs server binaries, as a dedicated unprivileged user when this
// process is root (initdb and pg_ctl refuse to run as root).
type runner struct {
	cred *syscall.Credential
	dir  string
}

// newRunner makes a scratch directory owned by the user the servers will
// run as: the first of names that exists, when running as root.
func newRunner(names ...string) (*runner, error) {
	dir, err := os.MkdirTemp("", "coffer-dbtest-")
	if err != nil {
		return nil, err
	}
	r := &runner{dir: dir}
	if os.Geteuid() != 0 {
		return r, nil
	}
	for _, n := range append(names, "nobody") {
		u, err := user.Lookup(n)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		r.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		return r, nil
	}
	os.RemoveAll(dir)
	return nil, errors.New("running as root and no unprivileged user to run the server as")
}

func (r *runner) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = r.dir
	if r.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
	}
	return cmd
}

// run runs a command to its end, returning its output in the error.
func (r *runner) run(name string, args ...string) error {
	cmd := r.command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", filepath.Base(name), err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// writeFile writes a file the server's user owns.
func (r *runner) writeFile(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return err
	}
	if r.cred != nil {
		return os.Chown(path, int(r.cred.Uid), int(r.cred.Gid))
	}
	return nil
}

// findBinary looks name up on PATH and then in dirs (glob patterns).
func findBinary(name string, dirs ...string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range dirs {
		matches, _ := filepath.Glob(filepath.Join(d, name))
		if len(matches) > 0 {
			return matches[len(matches)-1], nil
		}
	}
	return "", fmt.Errorf("%s is not installed", name)
}

// freePort returns a TCP port free on loopback just now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// postgresHBA lets the superuser in without a password and asks everyone
// else for one, so that credentials can be proven.
const postgresHBA = `local all postgres trust
host  all postgres 127.0.0.1/32 trust
local all all md5
host  all all 127.0.0.1/32 md5
`

// startPostgres initialises and starts a throwaway PostgreSQL.
func startPostgres() (*Server, error) {
	initdb, err := findBinary("initdb", "/usr/lib/postgresql/*/bin")
	if err != nil {
		return nil, err
	}
	pgctl, err := findBinary("pg_ctl", filepath.Dir(initdb))
	if err != nil {
		return nil, err
	}
	r, err := newRunner("postgres")
	if err != nil {
		return nil, err
	}
	data := filepath.Join(r.dir, "data")
	if err := r.run(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"); err != nil {
		os.RemoveAll(r.dir)
		return nil, err
	}
	if err := r.writeFile(filepath.Join(data, "pg_hba.conf"), postgresHBA); err != nil {
		os.RemoveAll(r.dir)
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(r.dir)
		return nil, err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", port, r.dir)
	if err := r.run(pgctl, "-D", data, "-l", filepath.Join(r.dir, "log"), "-w", "-t", "60", "-o", opts, "start"); err != nil {
		os.RemoveAll(r.dir)
		return nil, err
	}
	onStop(func() {
		_ = r.run(pgctl, "-D", data, "-m", "immediate", "-w", "stop")
		os.RemoveAll(r.dir)
	})
	return connect("postgres", fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), "throwaway server")
}

// startMySQL initialises and starts a throwaway MariaDB with its own
// socket and port.
func startMySQL() (*Server, error) {
	install, err := findBinary("mariadb-install-db")
	if err != nil {
		return nil, err
	}
	mariadbd, err := findBinary("mariadbd", "/usr/sbin")
	if err != nil {
		return nil, err
	}
	r, err := newRunner("mysql")
	if err != nil {
		return nil, err
	}
	data, sock := filepath.Join(r.dir, "data"), filepath.Join(r.dir, "mysqld.sock")
	if err := r.run(install, "--no-defaults", "--datadir="+data, "--auth-root-authentication-method=normal",
		"--skip-test-db", "--skip-name-resolve"); err != nil {
		os.RemoveAll(r.dir)
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(r.dir)
		return nil, err
	}
	cmd := r.command(mariadbd, "--no-defaults", "--datadir="+data, "--socket="+sock, "--port="+strconv.Itoa(port),
		"--bind-address=127.0.0.1", "--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=32M",
		"--pid-file="+filepath.Join(r.dir, "mysqld.pid"), "--log-error="+filepath.Join(r.dir, "error.log"))
	if err := cmd.Start(); err != nil {
		os.RemoveAll(r.dir)
		return nil, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		os.RemoveAll(r.dir)
	}
	admin := "root@unix(" + sock + ")/"
	var s *Server
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		db, oerr := open("mysql", admin)
		if oerr == nil {
			err = db.Ping()
			db.Close()
		}
		if oerr == nil && err == nil {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("mariadbd did not answer: %v", err)
		}
	}
	onStop(stop)
	db, err := open("mysql", admin)
	if err != nil {
		return nil, err
	}
	if _, err := db.Exec("CREATE DATABASE IF NOT EXISTS test"); err != nil {
		db.Close()
		return nil, err
	}
	s = &Server{Kind: "mysql", Host: "127.0.0.1", Port: port, Database: "test", Admin: db, where: "throwaway server " + r.dir}
	if err := s.checkPasswords(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}
