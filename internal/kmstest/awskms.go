package kmstest

import (
	"bufio"
	"context"
	_ "embed"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ksec-dev/ksec/internal/tooltest"
)

// The local-kms instance's identity; its key ARNs are built from these.
const (
	LocalKMSRegion  = "eu-west-2"
	LocalKMSAccount = "111122223333"
)

// Static credentials the tests sign with; local-kms does not check them,
// but the SDK needs some to sign at all.
const (
	LocalKMSAccessKeyID     = "AKIAKSECTESTLOCALKMS"
	LocalKMSSecretAccessKey = "ksec-test-secret-access-key-not-a-real-one"
)

const (
	localKMSPackage = "github.com/nsmithuk/local-kms"
	localKMSBinEnv  = "KSEC_LOCAL_KMS_BIN"
	// localKMSStartTimeout bounds the wait for the "started" log line; it
	// normally comes within ~50 ms.
	localKMSStartTimeout = 20 * time.Second
)

// Key IDs of testdata/seed.yaml.
const (
	localKMSKey1     = "66172f66-aeba-4a0f-80f2-75a599831145"
	localKMSKey2     = "0765e0b1-0cac-4932-bef9-621f3fc5563c"
	localKMSDisabled = "a8699321-7e68-4051-a0c5-d1d37e66e1cc"
	localKMSAlias    = "alias/ksec-test"
)

//go:embed testdata/seed.yaml
var localKMSSeed []byte

var (
	localKMSStartedRE = regexp.MustCompile(`Local KMS started on [^ ]*:([0-9]+)`)
	localKMSANSIRE    = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)
)

// LocalKMS is a running local-kms (an emulator of the AWS KMS API) behind a
// reverse proxy that counts the calls ksec makes.
type LocalKMS struct {
	// Endpoint is the proxy's URL (http://127.0.0.1:PORT); point
	// AWS_ENDPOINT_URL_KMS at it.
	Endpoint string
	// KeyARN and SecondKeyARN are enabled symmetric keys; AliasARN names
	// KeyARN; DisabledKeyARN is a key that exists but is disabled.
	KeyARN         string
	SecondKeyARN   string
	AliasARN       string
	DisabledKeyARN string

	base    string
	cmd     *exec.Cmd
	exited  chan struct{}
	log     *localKMSLog
	server  *http.Server
	tr      *http.Transport
	stop    sync.Once
	mu      sync.Mutex
	calls   []Call
	denied  map[string]bool
	backend string
}

// Call is one request that reached local-kms through the proxy.
type Call struct {
	Op          string // the KMS operation, e.g. "Encrypt" (X-Amz-Target without "TrentService.")
	AccessKeyID string // from the request's SigV4 signature
	Region      string // the region the request was signed for
}

// LocalKMSForTest starts a local-kms for the test and stops it when the test
// ends. It does not change the environment; see Setenv.
func LocalKMSForTest(t testing.TB) *LocalKMS {
	t.Helper()
	k, err := StartLocalKMS(t.TempDir())
	if err != nil {
		t.Fatalf("starting local-kms: %v", err)
	}
	t.Cleanup(k.Stop)
	return k
}

// StartLocalKMS builds local-kms if needed (see LocalKMSBinary), starts it
// with its files in a new directory under dir, disables DisabledKeyARN and
// puts the counting proxy in front. The caller must call Stop.
func StartLocalKMS(dir string) (*LocalKMS, error) {
	bin, err := LocalKMSBinary()
	if err != nil {
		return nil, err
	}
	base, err := os.MkdirTemp(dir, "local-kms-")
	if err != nil {
		return nil, err
	}
	k, err := startLocalKMS(bin, base)
	if err != nil {
		os.RemoveAll(base)
		return nil, err
	}
	return k, nil
}

func startLocalKMS(bin, base string) (*LocalKMS, error) {
	seed := filepath.Join(base, "seed.yaml")
	if err := os.WriteFile(seed, localKMSSeed, 0o600); err != nil {
		return nil, err
	}
	// Empty AWS config files keep a developer's ~/.aws out of the tests.
	for _, f := range []string{"aws-config", "aws-credentials"} {
		if err := os.WriteFile(filepath.Join(base, f), nil, 0o600); err != nil {
			return nil, err
		}
	}
	k := &LocalKMS{
		KeyARN:         localKMSARN("key/" + localKMSKey1),
		SecondKeyARN:   localKMSARN("key/" + localKMSKey2),
		AliasARN:       localKMSARN(localKMSAlias),
		DisabledKeyARN: localKMSARN("key/" + localKMSDisabled),
		base:           base,
		exited:         make(chan struct{}),
		log:            &localKMSLog{},
		tr:             &http.Transport{Proxy: nil},
	}
	k.cmd = exec.Command(bin)
	k.cmd.Dir = base
	k.cmd.Env = []string{
		"PORT=0",
		"KMS_SEED_PATH=" + seed,
		"KMS_DATA_PATH=" + filepath.Join(base, "data"),
		"KMS_REGION=" + LocalKMSRegion,
		"KMS_ACCOUNT_ID=" + LocalKMSAccount,
	}
	stderr, err := k.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := k.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	port := make(chan string, 1)
	go k.watch(stderr, port)

	select {
	case p := <-port:
		k.backend = "http://127.0.0.1:" + p
	case <-k.exited:
		return nil, fmt.Errorf("local-kms exited before it was ready: %s", k.log.tail())
	case <-time.After(localKMSStartTimeout):
		k.kill()
		return nil, fmt.Errorf("local-kms did not report its port within %v: %s", localKMSStartTimeout, k.log.tail())
	}
	if err := k.disableKey(k.DisabledKeyARN); err != nil {
		k.kill()
		return nil, err
	}
	if err := k.startProxy(); err != nil {
		k.kill()
		return nil, err
	}
	return k, nil
}

func localKMSARN(resource string) string {
	return "arn:aws:kms:" + LocalKMSRegion + ":" + LocalKMSAccount + ":" + resource
}

// watch reads local-kms's log until it exits, reporting the port it
// listens on. It must keep reading: local-kms logs every request, and
// would block on a full pipe.
func (k *LocalKMS) watch(stderr io.Reader, port chan<- string) {
	defer close(k.exited)
	sent := false
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := localKMSANSIRE.ReplaceAllString(sc.Text(), "")
		k.log.add(line)
		if m := localKMSStartedRE.FindStringSubmatch(line); m != nil && !sent {
			port <- m[1]
			sent = true
		}
	}
	// Drain whatever is left so Wait does not race with a blocked reader.
	_, _ = io.Copy(io.Discard, stderr)
	_ = k.cmd.Wait()
}

// disableKey uses the KMS JSON protocol directly: local-kms checks no
// signature, and the seed format cannot create a disabled key.
func (k *LocalKMS) disableKey(arn string) error {
	body := fmt.Sprintf(`{"KeyId":%q}`, arn)
	req, err := http.NewRequest(http.MethodPost, k.backend+"/", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.DisableKey")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := k.tr.RoundTrip(req.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("disabling local-kms key: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("disabling local-kms key: %s: %s", resp.Status, msg)
	}
	return nil
}

func (k *LocalKMS) startProxy() error {
	target, err := url.Parse(k.backend)
	if err != nil {
		return err
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = k.tr
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	k.server = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if k.record(r) {
				localKMSDeny(w, r)
				return
			}
			rp.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = k.server.Serve(ln) }()
	k.Endpoint = "http://" + ln.Addr().String()
	return nil
}

// record logs the call and reports whether it is to be denied.
func (k *LocalKMS) record(r *http.Request) bool {
	c := Call{Op: strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")}
	// Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/kms/aws4_request, ...
	if _, cred, ok := strings.Cut(r.Header.Get("Authorization"), "Credential="); ok {
		cred, _, _ = strings.Cut(cred, ",")
		parts := strings.Split(cred, "/")
		c.AccessKeyID = parts[0]
		if len(parts) > 2 {
			c.Region = parts[2]
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls = append(k.calls, c)
	return k.denied[c.Op]
}

// localKMSDeny answers as AWS KMS does when IAM or the key policy forbids
// the call; local-kms has no notion of either.
func localKMSDeny(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `{"__type":"AccessDeniedException","message":"User: arn:aws:iam::%s:user/ksec-test is not authorized to perform: kms:%s because no identity-based policy allows the kms:%s action"}`,
		LocalKMSAccount, op, op)
}

// Deny makes the proxy refuse the given operations ("Encrypt", "Decrypt",
// …) with AccessDeniedException, as AWS does for a caller without the
// permission; Deny() with no operations allows everything again. Denied
// calls are still counted.
func (k *LocalKMS) Deny(ops ...string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.denied = map[string]bool{}
	for _, op := range ops {
		k.denied[strings.TrimPrefix(op, "TrentService.")] = true
	}
}

// Calls returns how many requests for op ("Encrypt", "Decrypt", …) went
// through the proxy since the start or the last ResetCalls.
func (k *LocalKMS) Calls(op string) int {
	op = strings.TrimPrefix(op, "TrentService.")
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, c := range k.calls {
		if c.Op == op {
			n++
		}
	}
	return n
}

// CallLog returns a copy of every request recorded since the start or the
// last ResetCalls, in order.
func (k *LocalKMS) CallLog() []Call {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]Call(nil), k.calls...)
}

// ResetCalls forgets the recorded requests.
func (k *LocalKMS) ResetCalls() {
	k.mu.Lock()
	k.calls = nil
	k.mu.Unlock()
}

// Env returns the environment a KMS client needs to reach this instance
// with static credentials and nothing else: no shared config or profile of
// the developer, no instance-metadata lookups.
func (k *LocalKMS) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_KMS=" + k.Endpoint,
		"AWS_ACCESS_KEY_ID=" + LocalKMSAccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + LocalKMSSecretAccessKey,
		"AWS_SESSION_TOKEN=",
		"AWS_REGION=" + LocalKMSRegion,
		"AWS_PROFILE=",
		"AWS_DEFAULT_PROFILE=",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(k.base, "aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(k.base, "aws-credentials"),
	}
}

// Setenv applies Env to the test's process environment (so the test
// cannot run in parallel).
func (k *LocalKMS) Setenv(t testing.TB) {
	t.Helper()
	for _, kv := range k.Env() {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
}

// Log returns the last lines local-kms logged, for test failure messages.
func (k *LocalKMS) Log() string { return k.log.tail() }

// Stop shuts the proxy and local-kms down and removes their files. It may
// be called more than once.
func (k *LocalKMS) Stop() {
	k.stop.Do(func() {
		if k.server != nil {
			_ = k.server.Close()
		}
		k.tr.CloseIdleConnections()
		k.kill()
		_ = os.RemoveAll(k.base)
	})
}

func (k *LocalKMS) kill() {
	_ = k.cmd.Process.Kill()
	select {
	case <-k.exited:
	case <-time.After(10 * time.Second):
	}
}

// localKMSLog keeps the last lines of local-kms's log.
type localKMSLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *localKMSLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 40 {
		l.lines = l.lines[1:]
	}
	l.lines = append(l.lines, line)
}

func (l *localKMSLog) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 0 {
		return "(no output)"
	}
	return strings.Join(l.lines, "\n")
}

// LocalKMSTool is local-kms, pinned in tools/localkms. $KSEC_LOCAL_KMS_BIN,
// when set, names the binary (built there if missing).
var LocalKMSTool = tooltest.Tool{Dir: "localkms", Package: localKMSPackage, BinEnv: localKMSBinEnv}

// LocalKMSBinary returns the path of a local-kms binary built from the
// version pinned in tools/localkms (see tooltest.Binary).
func LocalKMSBinary() (string, error) {
	return tooltest.Binary(LocalKMSTool)
}
