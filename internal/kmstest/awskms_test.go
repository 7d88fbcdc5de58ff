package kmstest

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// localKMSPost sends one KMS JSON request through the proxy, signed-looking
// enough for the proxy to record a credential.
func localKMSPost(t *testing.T, k *LocalKMS, op, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, k.Endpoint+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService."+op)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/eu-west-2/kms/aws4_request, SignedHeaders=host, Signature=00")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestLocalKMS(t *testing.T) {
	k := LocalKMSForTest(t)
	if !strings.HasPrefix(k.Endpoint, "http://127.0.0.1:") {
		t.Fatalf("Endpoint = %q, want the proxy on 127.0.0.1", k.Endpoint)
	}

	for _, arn := range []string{k.KeyARN, k.SecondKeyARN, k.AliasARN} {
		code, body := localKMSPost(t, k, "Encrypt", `{"KeyId":"`+arn+`","Plaintext":"AAAA","EncryptionContext":{"a":"b"}}`)
		if code != http.StatusOK {
			t.Fatalf("Encrypt with %s: %d %s", arn, code, body)
		}
		var out struct{ KeyId string }
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		want := arn
		if arn == k.AliasARN {
			want = k.KeyARN
		}
		if out.KeyId != want {
			t.Errorf("Encrypt with %s used key %s, want %s", arn, out.KeyId, want)
		}
	}
	code, body := localKMSPost(t, k, "Encrypt", `{"KeyId":"`+k.DisabledKeyARN+`","Plaintext":"AAAA"}`)
	if code == http.StatusOK || !strings.Contains(body, "DisabledException") {
		t.Errorf("Encrypt with the disabled key: %d %s, want a DisabledException", code, body)
	}

	if got := k.Calls("Encrypt"); got != 4 {
		t.Errorf("Calls(Encrypt) = %d, want 4", got)
	}
	if got := k.Calls("TrentService.Encrypt"); got != 4 {
		t.Errorf("Calls(TrentService.Encrypt) = %d, want 4", got)
	}
	if got := k.Calls("Decrypt"); got != 0 {
		t.Errorf("Calls(Decrypt) = %d, want 0", got)
	}
	log := k.CallLog()
	if len(log) != 4 || log[0] != (Call{Op: "Encrypt", AccessKeyID: "AKIDTEST", Region: "eu-west-2"}) {
		t.Errorf("CallLog() = %+v", log)
	}
	k.ResetCalls()
	if got := k.Calls("Encrypt"); got != 0 {
		t.Errorf("after ResetCalls, Calls(Encrypt) = %d", got)
	}

	env := strings.Join(k.Env(), "\n")
	for _, want := range []string{"AWS_ENDPOINT_URL_KMS=" + k.Endpoint + "\n", "AWS_EC2_METADATA_DISABLED=true\n", "AWS_REGION=eu-west-2\n"} {
		if !strings.Contains(env+"\n", want) {
			t.Errorf("Env() lacks %q", want)
		}
	}

	k.Stop()
	if _, err := os.Stat(k.base); !os.IsNotExist(err) {
		t.Errorf("Stop left %s behind: %v", k.base, err)
	}
	if _, err := http.Get(k.Endpoint); err == nil {
		t.Errorf("the proxy still answers after Stop")
	}
	k.Stop() // a second Stop is harmless
}

// Two instances run side by side, each with its own data.
func TestLocalKMSTwice(t *testing.T) {
	a, b := LocalKMSForTest(t), LocalKMSForTest(t)
	if a.Endpoint == b.Endpoint {
		t.Fatalf("both instances at %s", a.Endpoint)
	}
	for _, k := range []*LocalKMS{a, b} {
		if code, body := localKMSPost(t, k, "DescribeKey", `{"KeyId":"`+k.KeyARN+`"}`); code != http.StatusOK {
			t.Errorf("DescribeKey at %s: %d %s", k.Endpoint, code, body)
		}
	}
}

// Concurrent callers get one binary at the path KSEC_LOCAL_KMS_BIN names,
// and no temporary or lock file is left behind.
func TestLocalKMSBinaryBuild(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "sub", "local-kms")
	t.Setenv("KSEC_LOCAL_KMS_BIN", bin)
	var wg sync.WaitGroup
	paths := make([]string, 3)
	errs := make([]error, 3)
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths[i], errs[i] = LocalKMSBinary()
		}()
	}
	wg.Wait()
	for i := range paths {
		if errs[i] != nil || paths[i] != bin {
			t.Fatalf("LocalKMSBinary() = %q, %v; want %q", paths[i], errs[i], bin)
		}
	}
	entries, err := os.ReadDir(filepath.Dir(bin))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "local-kms" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files next to the binary: %q, want only local-kms", names)
	}
	k, err := StartLocalKMS(dir)
	if err != nil {
		t.Fatalf("StartLocalKMS with the new binary: %v", err)
	}
	k.Stop()
}
