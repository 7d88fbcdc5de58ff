// Package kubetest runs a real Kubernetes API server for tests: Debian's
// etcd and a kube-apiserver built from tools/kubeapiserver (see
// internal/tooltest), on free loopback ports, with one token user in
// system:masters and a kubeconfig for the installed kubectl.
//
// A server takes a few seconds to start and a few hundred MB of memory, so a
// test binary starts one (Shared, stopped by Main from TestMain) and gives
// each test a namespace of its own (Namespace). Start runs a private one.
package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ksec-dev/ksec/internal/tooltest"
)

// KubeAPIServer is the tools module that builds kube-apiserver.
var KubeAPIServer = tooltest.Tool{Dir: "kubeapiserver", Package: "k8s.io/kubernetes/cmd/kube-apiserver"}

// Time bounds. Start-up takes about 2 s on an idle machine; the bound leaves
// room for a loaded CI machine, where every test binary starts at once.
const (
	readyTimeout   = 2 * time.Minute
	kubectlTimeout = 2 * time.Minute
	stopTimeout    = 10 * time.Second
)

// A Server is a running etcd and kube-apiserver.
type Server struct {
	// Kubeconfig is the path of a kubeconfig whose current context is the
	// server's admin user.
	Kubeconfig string
	// URL is the API server's https URL (its certificate is self-signed).
	URL string

	kubectl  string
	dir      string
	token    string
	procs    []*process
	nsSerial atomic.Int64
}

// Start starts a server of its own for t, stopped when t ends. It needs
// etcd and kubectl on $PATH (see tooltest.LookPath: a failure under CI=true,
// a skip elsewhere); kube-apiserver is built once per pin.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := start(lookup(t))
	if err != nil {
		t.Fatalf("starting a Kubernetes API server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

type programs struct{ apiserver, etcd, kubectl string }

func lookup(t testing.TB) programs {
	t.Helper()
	if !supported {
		t.Skip("kubetest needs a Unix system (process groups)")
	}
	return programs{
		etcd:      tooltest.LookPath(t, "etcd", "apt-get install etcd-server"),
		kubectl:   tooltest.LookPath(t, "kubectl", "install kubectl (https://kubernetes.io/docs/tasks/tools/)"),
		apiserver: tooltest.Require(t, KubeAPIServer),
	}
}

var shared struct {
	mu     sync.Mutex
	inMain bool
	server *Server
	err    error
	tried  bool
}

// Main runs a test binary's tests (m.Run) and then stops the server Shared
// started; call it from TestMain: os.Exit(kubetest.Main(m)). Any value with
// testing.M's Run method will do, so it fits inside testscript.Main.
func Main(m interface{ Run() int }) int {
	shared.mu.Lock()
	shared.inMain = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.server != nil {
		shared.server.Stop()
		shared.server = nil
	}
	return code
}

// Shared returns the test binary's one server, started by the first caller.
// The package's TestMain must call Main, which stops it: without it the
// server would outlive the test binary.
func Shared(t testing.TB) *Server {
	t.Helper()
	p := lookup(t)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.inMain {
		t.Fatal("kubetest.Shared needs TestMain to call kubetest.Main, which stops the server")
	}
	if !shared.tried {
		shared.tried = true
		shared.server, shared.err = start(p)
	}
	if shared.err != nil {
		t.Fatalf("starting a Kubernetes API server: %v", shared.err)
	}
	return shared.server
}

// Env is the environment that points kubectl at the server: KUBECONFIG, and
// a discovery cache of the server's own (not the user's ~/.kube).
func (s *Server) Env() []string {
	return []string{
		"KUBECONFIG=" + s.Kubeconfig,
		"KUBECACHEDIR=" + filepath.Join(s.dir, "cache"),
	}
}

// Kubectl runs kubectl against the server with stdin (nil for none) and
// returns its standard output; an error or a timeout fails the test.
func (s *Server) Kubectl(t testing.TB, stdin []byte, args ...string) []byte {
	t.Helper()
	out, errOut, err := s.KubectlResult(stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// KubectlResult runs kubectl against the server with stdin (nil for none),
// bounded in time, and returns what it wrote and how it ended.
func (s *Server) KubectlResult(stdin []byte, args ...string) (stdout, stderr []byte, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.kubectl, args...)
	cmd.Env = append(os.Environ(), s.Env()...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("kubectl did not finish within %v: %w", kubectlTimeout, err)
	}
	return out.Bytes(), errOut.Bytes(), err
}

// Namespace creates a namespace no other caller gets, for t's objects. It is
// never deleted: without a controller manager a deleted namespace never
// goes away, and the server itself is thrown away at the end.
func (s *Server) Namespace(t testing.TB) string {
	t.Helper()
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	ns := fmt.Sprintf("t%d-%s", s.nsSerial.Add(1), hex.EncodeToString(rnd[:]))
	s.Kubectl(t, nil, "create", "namespace", ns)
	return ns
}

// Stop stops kube-apiserver, then etcd, and removes their files. Calling it
// again does nothing.
func (s *Server) Stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		s.procs[i].stop()
	}
	s.procs = nil
	if s.dir != "" {
		os.RemoveAll(s.dir)
		s.dir = ""
	}
}

func start(p programs) (*Server, error) {
	// A short directory: etcd and the API server put sockets and long
	// names under it.
	dir, err := os.MkdirTemp("", "kt")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, kubectl: p.kubectl}
	if err := s.start(p); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) start(p programs) error {
	dir := s.dir
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	etcd, err := startProcess(dir, "etcd", p.etcd,
		"--name=kubetest",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls=http://127.0.0.1:"+strconv.Itoa(ports[1]),
		"--initial-advertise-peer-urls=http://127.0.0.1:"+strconv.Itoa(ports[1]),
		"--initial-cluster=kubetest=http://127.0.0.1:"+strconv.Itoa(ports[1]),
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	s.procs = append(s.procs, etcd)

	s.token, err = randomHex(16)
	if err != nil {
		return err
	}
	if err := writeFiles(dir, s.token); err != nil {
		return err
	}
	port := ports[2]
	s.URL = "https://127.0.0.1:" + strconv.Itoa(port)
	apiserver, err := startProcess(dir, "kube-apiserver", p.apiserver,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--token-auth-file="+filepath.Join(dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--disable-admission-plugins=ServiceAccount",
		// Less work for a throwaway server on a shared machine.
		"--enable-priority-and-fairness=false",
		"--profiling=false",
	)
	if err != nil {
		return err
	}
	s.procs = append(s.procs, apiserver)
	if err := s.waitReady(apiserver, etcd); err != nil {
		return err
	}
	s.Kubeconfig = filepath.Join(dir, "kubeconfig")
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kubetest
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: %s
contexts:
- name: kubetest
  context:
    cluster: kubetest
    user: admin
    namespace: default
current-context: kubetest
`, s.URL, s.token)
	if err := os.WriteFile(s.Kubeconfig, []byte(kubeconfig), 0o600); err != nil {
		return err
	}
	return nil
}

// writeFiles writes the token file (one user in system:masters) and the
// service-account signing key pair the API server insists on.
func writeFiles(dir, token string) error {
	tokens := token + ",admin,admin,system:masters\n"
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(tokens), 0o600); err != nil {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	priv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(filepath.Join(dir, "sa.key"), priv, 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
}

// waitReady polls /readyz until the server answers ok, one of the processes
// ends, or readyTimeout passes.
func (s *Server) waitReady(procs ...*process) error {
	client := &http.Client{
		Timeout: 5 * time.Second,
		// The server's certificate is self-signed, made at start-up.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(readyTimeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		for _, p := range procs {
			if p.exited() {
				return fmt.Errorf("%s exited before the server was ready:\n%s", p.name, p.logTail())
			}
		}
		req, err := http.NewRequest(http.MethodGet, s.URL+"/readyz", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+s.token)
		resp, err := client.Do(req)
		if err == nil {
			body, _ := readSome(resp)
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, body)
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("not ready within %v (last answer: %s); kube-apiserver's log ends:\n%s",
		readyTimeout, last, procs[0].logTail())
}

// readSome reads the start of an answer, for an error message.
func readSome(resp *http.Response) (string, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return string(b), err
}

// freePorts asks the system for n distinct free loopback ports. Another
// program could take one before the server binds it; start-up then fails
// with the process's log, which says so.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// A process is etcd or kube-apiserver, in a process group of its own so
// that stopping it stops anything it started, with its output in a log file.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startProcess(dir, name, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process group to end, and kills it when it has not within
// stopTimeout.
func (p *process) stop() {
	if p.exited() {
		return
	}
	_ = signalGroup(p.cmd.Process.Pid, false)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = signalGroup(p.cmd.Process.Pid, true)
		<-p.done
	}
	// Anything the process started and left behind in its group.
	_ = signalGroup(p.cmd.Process.Pid, true)
}

// logTail is the end of the process's output, for an error message.
func (p *process) logTail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}
