package kubetest

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// The shared server stores what kubectl applies, in a namespace of the
// test's own, and the kubeconfig works for a kubectl run by hand.
func TestSharedServer(t *testing.T) {
	s := Shared(t)
	if s2 := Shared(t); s2 != s {
		t.Fatal("Shared started a second server")
	}
	ns := s.Namespace(t)
	if ns2 := s.Namespace(t); ns2 == ns {
		t.Fatalf("Namespace returned %q twice", ns)
	}
	secret := []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  k: v\n")
	s.Kubectl(t, secret, "apply", "-n", ns, "-f", "-")
	got := s.Kubectl(t, nil, "get", "secret", "s", "-n", ns, "-o", "jsonpath={.data.k}")
	if string(got) != "dg==" { // base64("v")
		t.Fatalf("stored value: got %q, want %q", got, "dg==")
	}

	_, stderr, err := s.KubectlResult(nil, "get", "secret", "missing", "-n", ns)
	if err == nil || !bytes.Contains(stderr, []byte(`secrets "missing" not found`)) {
		t.Fatalf("getting a missing Secret: err %v, stderr %q", err, stderr)
	}

	cmd := exec.Command("kubectl", "get", "namespace", ns, "-o", "name")
	cmd.Env = append(os.Environ(), s.Env()...)
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != "namespace/"+ns {
		t.Fatalf("kubectl with Env(): %q, %v", out, err)
	}
}

// A server of its own is stopped when its test ends: its processes are gone
// and its files removed.
func TestStartStops(t *testing.T) {
	var s *Server
	var pids []int
	var dir string
	t.Run("run", func(t *testing.T) {
		s = Start(t)
		for _, p := range s.procs {
			pids = append(pids, p.cmd.Process.Pid)
		}
		dir = s.dir
		s.Kubectl(t, nil, "get", "namespace", "default")
	})
	if t.Failed() || t.Skipped() {
		return
	}
	if len(pids) != 2 {
		t.Fatalf("want etcd and kube-apiserver, got %d processes", len(pids))
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d still runs after the test ended", pid)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s is left behind: %v", dir, err)
	}
}
