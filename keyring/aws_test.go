package keyring_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/internal/kmstest"
	"github.com/ksec-dev/ksec/keyring"
)

// awsEnv points the AWS SDK at k and at nothing else: static credentials,
// no shared config of the developer, and an instance-metadata endpoint on
// 127.0.0.1 that fails the test if anything connects to it.
func awsEnv(t *testing.T, k *kmstest.LocalKMS) {
	t.Helper()
	for _, name := range []string{
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_DEFAULT_REGION", "AWS_CA_BUNDLE",
	} {
		t.Setenv(name, "")
	}
	k.Setenv(t)
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://"+awsListener(t, "the instance-metadata endpoint", false))
}

// awsListener listens on 127.0.0.1 and never answers. With wantContact
// false, any connection fails the test.
func awsListener(t *testing.T, what string, wantContact bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
		if len(conns) > 0 && !wantContact {
			t.Errorf("%d connection(s) to %s", len(conns), what)
		}
		if len(conns) == 0 && wantContact {
			t.Errorf("nothing connected to %s", what)
		}
	})
	return ln.Addr().String()
}

// awsClosedPort returns a 127.0.0.1 address where nothing listens.
func awsClosedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func awsDataKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, crypto.DataKeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func awsRecipient(t *testing.T, p keyring.Provider, spec string) keyring.Recipient {
	t.Helper()
	r, err := p.ParseRecipient(context.Background(), spec)
	if err != nil {
		t.Fatalf("ParseRecipient(%q): %v", spec, err)
	}
	return r
}

func awsWrap(t *testing.T, p keyring.Provider, spec string, dataKey []byte, scope keyring.Scope) keyring.Stanza {
	t.Helper()
	s, err := awsRecipient(t, p, spec).Wrap(context.Background(), dataKey, scope)
	if err != nil {
		t.Fatalf("Wrap for %s: %v (hints: %q)", spec, err, hint.All(err))
	}
	return s
}

// awsCheckErr fails unless err's text contains every part of wantErr and
// its hints together contain wantHint.
func awsCheckErr(t *testing.T, err error, wantErr []string, wantHint string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", wantErr)
	}
	for _, w := range wantErr {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	hints := strings.Join(hint.All(err), "\n")
	if !strings.Contains(hints, wantHint) {
		t.Errorf("hints %q do not contain %q (error: %v)", hints, wantHint, err)
	}
}

func TestAWSParseRecipient(t *testing.T) {
	valid := []string{
		"arn:aws:kms:eu-west-2:111122223333:key/66172f66-aeba-4a0f-80f2-75a599831145",
		"arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
		"arn:aws:kms:eu-west-2:111122223333:alias/ksec-test",
		"arn:aws:kms:eu-west-2:111122223333:alias/team/prod_secrets-1",
		"arn:aws-cn:kms:cn-north-1:111122223333:key/66172f66-aeba-4a0f-80f2-75a599831145",
		"arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/x",
		"arn:aws:kms:eu-west-2:111122223333:key/66172f66-aeba-4a0f-80f2-75a599831145+arn:aws:iam::444455556666:role/ksec-decrypt",
		"arn:aws:kms:eu-west-2:111122223333:alias/a+arn:aws:iam::111122223333:role/path/to/Role+Name=,.@_-",
	}
	p := keyring.NewAWS(keyring.AWSOptions{})
	for _, spec := range valid {
		r, err := p.ParseRecipient(context.Background(), spec)
		if err != nil {
			t.Errorf("ParseRecipient(%q): %v", spec, err)
			continue
		}
		if r.Type() != "aws" || r.ID() != spec {
			t.Errorf("ParseRecipient(%q) = %s:%s, want aws:%s", spec, r.Type(), r.ID(), spec)
		}
	}

	invalid := []struct{ spec, err string }{
		{"66172f66-aeba-4a0f-80f2-75a599831145", "does not have the shape arn:PARTITION:kms:"},
		{"alias/ksec-test", "does not have the shape"},
		{"arn:aws:kms:eu-west-2:111122223333", "does not have the shape"},
		{"arn:aws:s3:eu-west-2:111122223333:key/abc", `names the service "s3", not "kms"`},
		{"arn:gcp:kms:eu-west-2:111122223333:key/abc", `unknown partition "gcp"`},
		{"arn:aws:kms::111122223333:key/abc", `region "" in`},
		{"arn:aws:kms:Europe:111122223333:key/abc", `region "Europe" in`},
		{"arn:aws:kms:eu-west-2:1111:key/abc", `account "1111" in`},
		{"arn:aws:kms:eu-west-2:111122223333:key/", `names "key/", not key/KEY_ID or alias/NAME`},
		{"arn:aws:kms:eu-west-2:111122223333:keys/abc", `names "keys/abc"`},
		{"arn:aws:kms:eu-west-2:111122223333:alias/", `names "alias/"`},
		{"arn:aws:kms:eu-west-2:111122223333:alias/a b", `names "alias/a b"`},
		{"arn:aws:kms:eu-west-2:111122223333:key/abc:1", `names "key/abc:1"`},
		{"arn:aws:kms:eu-west-2:111122223333:key/abc+", "not an AWS IAM role ARN after \"+\": it is empty"},
		{"arn:aws:kms:eu-west-2:111122223333:key/abc+role/x", "not an AWS IAM role ARN"},
		{"arn:aws:kms:eu-west-2:111122223333:key/abc+arn:aws:sts::111122223333:role/x", `names the service "sts", not "iam"`},
		{"arn:aws:kms:eu-west-2:111122223333:key/abc+arn:aws:iam:eu-west-2:111122223333:role/x", "has a region"},
		{"arn:aws:kms:eu-west-2:111122223333:key/abc+arn:aws:iam::111122223333:user/x", `names "user/x", not role/NAME`},
		{"arn:aws:kms:eu-west-2:111122223333:key/abc+arn:aws-cn:iam::111122223333:role/x", `partition "aws-cn", the key in "aws"`},
	}
	for _, c := range invalid {
		_, err := p.ParseRecipient(context.Background(), c.spec)
		awsCheckErr(t, err, []string{c.err}, "aws:arn:aws:kms:REGION:ACCOUNT:key/KEY_ID")
	}
}

func TestAWSKeyringSpecs(t *testing.T) {
	const arn = "arn:aws:kms:eu-west-2:111122223333:key/66172f66-aeba-4a0f-80f2-75a599831145"
	kr := keyring.New([]keyring.Provider{keyring.NewAWS(keyring.AWSOptions{})}, nil)
	rs, err := kr.ParseRecipients(context.Background(), []string{"aws:" + arn, arn, "aws:" + arn + "+arn:aws:iam::111122223333:role/r"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].ID() != arn || rs[1].ID() != arn+"+arn:aws:iam::111122223333:role/r" {
		for _, r := range rs {
			t.Logf("recipient %s:%s", r.Type(), r.ID())
		}
		t.Fatalf("got %d recipients, want the key and the key with its role", len(rs))
	}
	_, err = kr.ParseRecipient(context.Background(), "aws:arn:aws:kms:eu-west-2:111122223333:bogus")
	awsCheckErr(t, err, []string{`key "aws:arn:aws:kms:eu-west-2:111122223333:bogus": not an AWS KMS key ARN`}, "alias/NAME")
}

// Parsing contacts nothing, not even with credentials and an endpoint at
// hand and a role to assume: the first call is made by Wrap.
func TestAWSParseRecipientNoNetwork(t *testing.T) {
	k := kmstest.LocalKMSForTest(t)
	awsEnv(t, k)
	t.Setenv("AWS_ENDPOINT_URL_STS", "http://"+awsListener(t, "STS", false))
	p := keyring.NewAWS(keyring.AWSOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // any network call would fail
	specs := []string{k.KeyARN, k.AliasARN, k.KeyARN + "+arn:aws:iam::111122223333:role/r"}
	var rs []keyring.Recipient
	for _, s := range specs {
		r, err := p.ParseRecipient(ctx, s)
		if err != nil {
			t.Fatalf("ParseRecipient(%q): %v", s, err)
		}
		rs = append(rs, r)
	}
	if log := k.CallLog(); len(log) != 0 {
		t.Fatalf("ParseRecipient made KMS calls: %+v", log)
	}
	if _, err := rs[0].Wrap(context.Background(), awsDataKey(t), keyring.Scope{Name: "s"}); err != nil {
		t.Fatal(err)
	}
	if got := len(k.CallLog()); got != 1 {
		t.Fatalf("Wrap made %d KMS calls, want 1", got)
	}
}

func TestAWSWrapUnwrap(t *testing.T) {
	k := kmstest.LocalKMSForTest(t)
	awsEnv(t, k)
	scopes := []keyring.Scope{
		{Namespace: "prod", Name: "db"},
		{Name: "no-namespace"},
		{},
	}
	for _, spec := range []string{k.KeyARN, k.AliasARN, k.SecondKeyARN} {
		for _, scope := range scopes {
			t.Run(fmt.Sprintf("%s/%s/%s", filepath.Base(spec), scope.Namespace, scope.Name), func(t *testing.T) {
				p := keyring.NewAWS(keyring.AWSOptions{})
				k.ResetCalls()
				dataKey := awsDataKey(t)
				s := awsWrap(t, p, spec, dataKey, scope)
				if s.Type != "aws" || s.ID != spec {
					t.Errorf("stanza %s:%s, want aws:%s", s.Type, s.ID, spec)
				}
				if len(s.Wrapped) == 0 || bytes.Contains(s.Wrapped, dataKey) {
					t.Errorf("wrapped key is empty or holds the data key")
				}
				if got := k.Calls("Encrypt"); got != 1 {
					t.Errorf("%d Encrypt calls for one Wrap, want 1", got)
				}
				got, err := p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{s}, scope)
				if err != nil {
					t.Fatalf("Unwrap: %v (hints: %q)", err, hint.All(err))
				}
				if !bytes.Equal(got, dataKey) {
					t.Errorf("Unwrap returned a different key")
				}
				if got := k.Calls("Decrypt"); got != 1 {
					t.Errorf("%d Decrypt calls for one Unwrap, want 1", got)
				}
				for _, c := range k.CallLog() {
					if c.AccessKeyID != kmstest.LocalKMSAccessKeyID || c.Region != "eu-west-2" {
						t.Errorf("call %+v: want credentials %s for eu-west-2", c, kmstest.LocalKMSAccessKeyID)
					}
				}
			})
		}
	}
}

// AWS_ENDPOINT_URL, the SDK's endpoint override for every service, works
// too.
func TestAWSGenericEndpoint(t *testing.T) {
	k := kmstest.LocalKMSForTest(t)
	awsEnv(t, k)
	t.Setenv("AWS_ENDPOINT_URL_KMS", "")
	t.Setenv("AWS_ENDPOINT_URL", k.Endpoint)
	p := keyring.NewAWS(keyring.AWSOptions{})
	dataKey := awsDataKey(t)
	s := awsWrap(t, p, k.KeyARN, dataKey, keyring.Scope{Name: "s"})
	got, err := p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{s}, keyring.Scope{Name: "s"})
	if err != nil || !bytes.Equal(got, dataKey) {
		t.Fatalf("Unwrap: %v", err)
	}
	if n := len(k.CallLog()); n != 2 {
		t.Errorf("%d calls reached local-kms, want 2", n)
	}
}

// One provider serves concurrent Wraps and Unwraps across regions (run
// with -race).
func TestAWSConcurrent(t *testing.T) {
	k := kmstest.LocalKMSForTest(t)
	awsEnv(t, k)
	p := keyring.NewAWS(keyring.AWSOptions{})
	specs := []string{k.KeyARN, k.AliasARN, k.SecondKeyARN}
	var wg sync.WaitGroup
	errs := make(chan error, 24)
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dataKey := make([]byte, crypto.DataKeySize)
			dataKey[0] = byte(i)
			scope := keyring.Scope{Namespace: "ns", Name: fmt.Sprint("s", i)}
			r, err := p.ParseRecipient(context.Background(), specs[i%len(specs)])
			if err != nil {
				errs <- err
				return
			}
			s, err := r.Wrap(context.Background(), dataKey, scope)
			if err != nil {
				errs <- err
				return
			}
			got, err := p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{s}, scope)
			if err == nil && !bytes.Equal(got, dataKey) {
				err = fmt.Errorf("goroutine %d: Unwrap returned a different key", i)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if e, d := k.Calls("Encrypt"), k.Calls("Decrypt"); e != 24 || d != 24 {
		t.Errorf("%d Encrypt and %d Decrypt calls, want 24 each", e, d)
	}
}

// A Secret with several recipients: one Encrypt per recipient, and one
// Decrypt for the whole Secret when the first stanza works.
func TestAWSKeyringCalls(t *testing.T) {
	k := kmstest.LocalKMSForTest(t)
	awsEnv(t, k)
	kr := keyring.New([]keyring.Provider{keyring.NewAWS(keyring.AWSOptions{})}, nil)
	ctx := context.Background()
	rs, err := kr.ParseRecipients(ctx, []string{"aws:" + k.KeyARN, k.AliasARN, "aws:" + k.SecondKeyARN})
	if err != nil {
		t.Fatal(err)
	}
	scope := keyring.Scope{Namespace: "ns", Name: "s"}
	dataKey := awsDataKey(t)
	stanzas := []keyring.Stanza{{Type: "pgp", ID: "0000000000000000000000000000000000000000", Wrapped: []byte("x")}}
	for _, r := range rs {
		s, err := r.Wrap(ctx, dataKey, scope)
		if err != nil {
			t.Fatal(err)
		}
		stanzas = append(stanzas, s)
	}
	if got := k.Calls("Encrypt"); got != 3 {
		t.Errorf("%d Encrypt calls for 3 recipients, want 3", got)
	}
	got, err := kr.Unwrap(ctx, stanzas, scope)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, dataKey) {
		t.Errorf("Unwrap returned a different key")
	}
	if got := k.Calls("Decrypt"); got != 1 {
		t.Errorf("%d Decrypt calls for one Secret, want 1", got)
	}
	if n := len(k.CallLog()); n != 4 {
		t.Errorf("%d KMS calls in all, want 4: %+v", n, k.CallLog())
	}
}

// The encryption context binds the wrapped key to the Secret's scope.
func TestAWSScopeBinding(t *testing.T) {
	k := kmstest.LocalKMSForTest(t)
	awsEnv(t, k)
	p := keyring.NewAWS(keyring.AWSOptions{})
	scope := keyring.Scope{Namespace: "prod", Name: "db"}
	s := awsWrap(t, p, k.KeyARN, awsDataKey(t), scope)

	tampered := s
	tampered.Wrapped = bytes.Clone(s.Wrapped)
	tampered.Wrapped[len(tampered.Wrapped)-1] ^= 1

	cases := []struct {
		name   string
		stanza keyring.Stanza
		scope  keyring.Scope
	}{
		{"other namespace", s, keyring.Scope{Namespace: "dev", Name: "db"}},
		{"other name", s, keyring.Scope{Namespace: "prod", Name: "db2"}},
		{"no namespace", s, keyring.Scope{Name: "db"}},
		{"swapped", s, keyring.Scope{Namespace: "db", Name: "prod"}},
		{"tampered", tampered, scope},
	}
	for _, c := range cases {
		_, err := p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{c.stanza}, c.scope)
		if !errors.Is(err, crypto.ErrIntegrity) {
			t.Errorf("%s: err = %v, want crypto.ErrIntegrity", c.name, err)
		}
		if errors.Is(err, keyring.ErrIncorrectIdentity) {
			t.Errorf("%s: err is ErrIncorrectIdentity", c.name)
		}
		awsCheckErr(t, err, []string{"integrity check failed", "aws kms decrypt with " + k.KeyARN, "namespace and name"}, "renamed or moved")
	}
}

// Renaming a Secret re-wraps its aws stanzas for the new scope (one
// Encrypt each) and keeps the others.
func TestAWSRebind(t *testing.T) {
	k := kmstest.LocalKMSForTest(t)
	awsEnv(t, k)
	p := keyring.NewAWS(keyring.AWSOptions{})
	if b, ok := p.(keyring.ScopeBinder); !ok || !b.BindsScope() {
		t.Fatalf("the aws provider does not report that it binds the scope")
	}
	kr := keyring.New([]keyring.Provider{p}, nil)
	ctx := context.Background()
	from, to := keyring.Scope{Namespace: "a", Name: "s"}, keyring.Scope{Namespace: "b", Name: "s"}
	dataKey := awsDataKey(t)
	other := keyring.Stanza{Type: "pgp", ID: "x", Wrapped: []byte("kept")}
	stanzas := []keyring.Stanza{awsWrap(t, p, k.KeyARN, dataKey, from), other, awsWrap(t, p, k.AliasARN, dataKey, from)}
	k.ResetCalls()
	moved, err := kr.Rebind(ctx, stanzas, dataKey, to)
	if err != nil {
		t.Fatal(err)
	}
	if n := k.Calls("Encrypt"); n != 2 {
		t.Errorf("%d Encrypt calls, want 2", n)
	}
	if len(moved) != 3 || moved[0].ID != k.KeyARN || moved[2].ID != k.AliasARN || !bytes.Equal(moved[1].Wrapped, other.Wrapped) {
		t.Fatalf("Rebind returned %+v", moved)
	}
	for _, s := range []keyring.Stanza{moved[0], moved[2]} {
		got, err := p.AmbientIdentity().Unwrap(ctx, []keyring.Stanza{s}, to)
		if err != nil || !bytes.Equal(got, dataKey) {
			t.Errorf("Unwrap %s in the new scope: %v", s.ID, err)
		}
		if _, err := p.AmbientIdentity().Unwrap(ctx, []keyring.Stanza{s}, from); !errors.Is(err, crypto.ErrIntegrity) {
			t.Errorf("Unwrap %s in the old scope: %v, want an integrity error", s.ID, err)
		}
	}
}

func TestAWSKeyErrors(t *testing.T) {
	k := kmstest.LocalKMSForTest(t)
	awsEnv(t, k)
	p := keyring.NewAWS(keyring.AWSOptions{})
	ctx := context.Background()
	scope := keyring.Scope{Namespace: "ns", Name: "s"}
	dataKey := awsDataKey(t)

	missing := "arn:aws:kms:eu-west-2:111122223333:key/00000000-0000-0000-0000-000000000000"
	_, err := awsRecipient(t, p, missing).Wrap(ctx, dataKey, scope)
	awsCheckErr(t, err, []string{"aws kms encrypt with " + missing + ": key not found: NotFoundException"}, "region eu-west-2")

	missingAlias := "arn:aws:kms:eu-west-2:111122223333:alias/nope"
	_, err = awsRecipient(t, p, missingAlias).Wrap(ctx, dataKey, scope)
	awsCheckErr(t, err, []string{"key not found"}, "an alias must exist in that region")

	// The region comes from the ARN: a key of another region is looked up
	// (and signed for) there.
	k.ResetCalls()
	otherRegion := strings.Replace(k.KeyARN, "eu-west-2", "us-east-1", 1)
	_, err = awsRecipient(t, p, otherRegion).Wrap(ctx, dataKey, scope)
	awsCheckErr(t, err, []string{"key not found"}, "region us-east-1")
	if log := k.CallLog(); len(log) != 1 || log[0].Region != "us-east-1" {
		t.Errorf("calls %+v, want one signed for us-east-1", log)
	}

	_, err = awsRecipient(t, p, k.DisabledKeyARN).Wrap(ctx, dataKey, scope)
	awsCheckErr(t, err, []string{"aws kms encrypt with " + k.DisabledKeyARN + ": the key is disabled"}, "enable it")

	// Decrypting with a key the caller may not use is a failure, not "no
	// matching key".
	good := awsWrap(t, p, k.KeyARN, dataKey, scope)
	disabled := keyring.Stanza{Type: "aws", ID: k.DisabledKeyARN, Wrapped: good.Wrapped}
	_, err = p.AmbientIdentity().Unwrap(ctx, []keyring.Stanza{disabled}, scope)
	awsCheckErr(t, err, []string{"aws kms decrypt with " + k.DisabledKeyARN + ": the key is disabled"}, "enable it")
	if errors.Is(err, keyring.ErrIncorrectIdentity) {
		t.Errorf("a disabled key reported as ErrIncorrectIdentity")
	}

	// The first failing stanza does not stop the next one.
	k.ResetCalls()
	got, err := p.AmbientIdentity().Unwrap(ctx, []keyring.Stanza{disabled, good}, scope)
	if err != nil || !bytes.Equal(got, dataKey) {
		t.Fatalf("Unwrap(disabled, good) = %v", err)
	}
	if n := k.Calls("Decrypt"); n != 2 {
		t.Errorf("%d Decrypt calls, want 2", n)
	}

	// All failing: every failure is reported.
	_, err = p.AmbientIdentity().Unwrap(ctx, []keyring.Stanza{disabled, good}, keyring.Scope{Name: "other"})
	awsCheckErr(t, err, []string{"the key is disabled; integrity check failed"}, "enable it")
	if !errors.Is(err, crypto.ErrIntegrity) {
		t.Errorf("err = %v, want it to wrap crypto.ErrIntegrity", err)
	}
	if !strings.Contains(strings.Join(hint.All(err), "\n"), "renamed or moved") {
		t.Errorf("hints %q lack the integrity hint", hint.All(err))
	}

	// A stanza whose ID is not a key spec.
	_, err = p.AmbientIdentity().Unwrap(ctx, []keyring.Stanza{{Type: "aws", ID: "bogus", Wrapped: good.Wrapped}}, scope)
	awsCheckErr(t, err, []string{"recipient aws:bogus: not an AWS KMS key ARN"}, "alias/NAME")

	// No aws stanza at all: not for this identity, and nothing contacted.
	k.ResetCalls()
	_, err = p.AmbientIdentity().Unwrap(ctx, []keyring.Stanza{{Type: "pgp", ID: "x", Wrapped: []byte("x")}}, scope)
	if !errors.Is(err, keyring.ErrIncorrectIdentity) {
		t.Errorf("err = %v, want ErrIncorrectIdentity", err)
	}
	if n := len(k.CallLog()); n != 0 {
		t.Errorf("%d KMS calls without an aws stanza", n)
	}

	if _, err := awsRecipient(t, p, k.KeyARN).Wrap(ctx, dataKey[:16], scope); err == nil {
		t.Errorf("Wrap accepted a 16-byte data key")
	}
}

// KMS decrypting to something that is not a data key (a blob made outside
// ksec under the same key and context) is an integrity failure.
func TestAWSUnwrapWrongLength(t *testing.T) {
	k := kmstest.LocalKMSForTest(t)
	awsEnv(t, k)
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, err := kms.NewFromConfig(cfg).Encrypt(ctx, &kms.EncryptInput{
		KeyId:             aws.String(k.KeyARN),
		Plaintext:         []byte("sixteen bytes..."),
		EncryptionContext: map[string]string{"ksec.namespace": "ns", "ksec.name": "s"},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := keyring.NewAWS(keyring.AWSOptions{})
	_, err = p.AmbientIdentity().Unwrap(ctx, []keyring.Stanza{{Type: "aws", ID: k.KeyARN, Wrapped: out.CiphertextBlob}},
		keyring.Scope{Namespace: "ns", Name: "s"})
	if !errors.Is(err, crypto.ErrIntegrity) || !strings.Contains(err.Error(), "returned 16 bytes, not a 32-byte data key") {
		t.Errorf("err = %v, want an integrity error about the length", err)
	}
}

// Access denied by IAM or the key policy names the missing permission.
func TestAWSAccessDenied(t *testing.T) {
	k := kmstest.LocalKMSForTest(t)
	awsEnv(t, k)
	p := keyring.NewAWS(keyring.AWSOptions{})
	ctx := context.Background()
	scope := keyring.Scope{Namespace: "ns", Name: "s"}
	good := awsWrap(t, p, k.KeyARN, awsDataKey(t), scope)

	k.Deny("Encrypt", "Decrypt")
	_, err := awsRecipient(t, p, k.AliasARN).Wrap(ctx, awsDataKey(t), scope)
	awsCheckErr(t, err, []string{"aws kms encrypt with " + k.AliasARN + ": access denied: AccessDeniedException: User: "}, "needs kms:Encrypt on "+k.AliasARN)
	_, err = p.AmbientIdentity().Unwrap(ctx, []keyring.Stanza{good}, scope)
	awsCheckErr(t, err, []string{"aws kms decrypt with " + k.KeyARN + ": access denied"}, "needs kms:Decrypt on "+k.KeyARN)
	if errors.Is(err, keyring.ErrIncorrectIdentity) {
		t.Errorf("access denied reported as ErrIncorrectIdentity")
	}
	if n := k.Calls("Decrypt"); n != 1 {
		t.Errorf("%d Decrypt calls, want 1 (no retry of a denial)", n)
	}
}

func TestAWSUnreachable(t *testing.T) {
	k := kmstest.LocalKMSForTest(t)
	awsEnv(t, k)
	endpoint := "http://" + awsClosedPort(t)
	t.Setenv("AWS_ENDPOINT_URL_KMS", endpoint)
	p := keyring.NewAWS(keyring.AWSOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	_, err := awsRecipient(t, p, k.KeyARN).Wrap(ctx, awsDataKey(t), keyring.Scope{Name: "s"})
	if ctx.Err() != nil {
		t.Fatalf("Wrap ran into the test's deadline: %v", err)
	}
	awsCheckErr(t, err, []string{"aws kms encrypt with " + k.KeyARN + ": cannot reach AWS KMS in eu-west-2: dial tcp"},
		"AWS_ENDPOINT_URL_KMS sets the endpoint to "+endpoint)
}

// An endpoint that accepts connections but never answers runs into the
// provider's timeout.
func TestAWSTimeout(t *testing.T) {
	k := kmstest.LocalKMSForTest(t)
	awsEnv(t, k)
	t.Setenv("AWS_ENDPOINT_URL_KMS", "http://"+awsListener(t, "the silent endpoint", true))
	p := keyring.NewAWS(keyring.AWSOptions{Timeout: 300 * time.Millisecond})
	_, err := awsRecipient(t, p, k.KeyARN).Wrap(context.Background(), awsDataKey(t), keyring.Scope{Name: "s"})
	awsCheckErr(t, err, []string{"aws kms encrypt with " + k.KeyARN + ": no answer within 300ms"}, "check the network path to AWS KMS in eu-west-2")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want it to wrap context.DeadlineExceeded", err)
	}
}

func TestAWSNoCredentials(t *testing.T) {
	k := kmstest.LocalKMSForTest(t)
	awsEnv(t, k)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	p := keyring.NewAWS(keyring.AWSOptions{})
	_, err := awsRecipient(t, p, k.KeyARN).Wrap(ctx, awsDataKey(t), keyring.Scope{Name: "s"})
	if ctx.Err() != nil {
		t.Fatalf("Wrap ran into the test's deadline: %v", err)
	}
	awsCheckErr(t, err, []string{"aws: no usable AWS credentials: "}, "aws sso login")
	_, err = p.AmbientIdentity().Unwrap(ctx, []keyring.Stanza{{Type: "aws", ID: k.KeyARN, Wrapped: []byte("x")}}, keyring.Scope{})
	awsCheckErr(t, err, []string{"no usable AWS credentials"}, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	if n := len(k.CallLog()); n != 0 {
		t.Errorf("%d KMS calls without credentials", n)
	}
}

// Where the SDK would wait for an instance-metadata service (ksec run
// outside AWS without credentials), the timeout ends the wait with the
// credentials hint. The "service" here is a silent listener on 127.0.0.1.
func TestAWSCredentialsTimeout(t *testing.T) {
	k := kmstest.LocalKMSForTest(t)
	awsEnv(t, k)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://"+awsListener(t, "the silent metadata service", true))
	p := keyring.NewAWS(keyring.AWSOptions{Timeout: 500 * time.Millisecond})
	_, err := awsRecipient(t, p, k.KeyARN).Wrap(context.Background(), awsDataKey(t), keyring.Scope{Name: "s"})
	awsCheckErr(t, err, []string{"aws: looking up AWS credentials: no answer within 500ms"}, "AWS_EC2_METADATA_DISABLED=true")
	if n := len(k.CallLog()); n != 0 {
		t.Errorf("%d KMS calls without credentials", n)
	}
}

func TestAWSUnknownProfile(t *testing.T) {
	k := kmstest.LocalKMSForTest(t)
	awsEnv(t, k)
	t.Setenv("AWS_PROFILE", "no-such-profile")
	p := keyring.NewAWS(keyring.AWSOptions{})
	_, err := awsRecipient(t, p, k.KeyARN).Wrap(context.Background(), awsDataKey(t), keyring.Scope{Name: "s"})
	awsCheckErr(t, err, []string{`aws: AWS profile "no-such-profile" not found`}, "AWS_PROFILE names a profile")
}

// awsSTS serves STS AssumeRole on 127.0.0.1, answering with fixed role
// credentials, or with AccessDenied when deny is set.
type awsSTS struct {
	mu    sync.Mutex
	forms []map[string]string
	deny  bool
}

func (s *awsSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	form := map[string]string{}
	for k := range r.PostForm {
		form[k] = r.PostForm.Get(k)
	}
	s.mu.Lock()
	s.forms = append(s.forms, form)
	deny := s.deny
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	if deny {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to perform sts:AssumeRole</Message></Error><RequestId>1</RequestId></ErrorResponse>`)
		return
	}
	fmt.Fprintf(w, `<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAKSECROLETEST</AccessKeyId><SecretAccessKey>role-secret</SecretAccessKey><SessionToken>role-token</SessionToken><Expiration>%s</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::111122223333:assumed-role/r/ksec</Arn><AssumedRoleId>AROAKSEC:ksec</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>`,
		time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
}

func (s *awsSTS) calls() []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]string(nil), s.forms...)
}

func TestAWSAssumeRole(t *testing.T) {
	k := kmstest.LocalKMSForTest(t)
	awsEnv(t, k)
	sts := &awsSTS{}
	srv := httptest.NewServer(sts)
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)

	const role = "arn:aws:iam::111122223333:role/ksec-test"
	p := keyring.NewAWS(keyring.AWSOptions{})
	scope := keyring.Scope{Namespace: "ns", Name: "s"}
	dataKey := awsDataKey(t)
	s1 := awsWrap(t, p, k.KeyARN+"+"+role, dataKey, scope)
	s2 := awsWrap(t, p, k.AliasARN+"+"+role, dataKey, scope)
	if s1.ID != k.KeyARN+"+"+role {
		t.Errorf("stanza ID %q does not record the role", s1.ID)
	}
	got, err := p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{s2}, scope)
	if err != nil || !bytes.Equal(got, dataKey) {
		t.Fatalf("Unwrap: %v", err)
	}

	calls := sts.calls()
	if len(calls) != 1 {
		t.Fatalf("%d AssumeRole calls, want 1 (credentials cached): %v", len(calls), calls)
	}
	if c := calls[0]; c["Action"] != "AssumeRole" || c["RoleArn"] != role || c["RoleSessionName"] != "ksec" {
		t.Errorf("STS request %v, want AssumeRole of %s as session ksec", c, role)
	}
	for _, c := range k.CallLog() {
		if c.AccessKeyID != "ASIAKSECROLETEST" {
			t.Errorf("KMS call %+v not made with the role's credentials", c)
		}
	}

	// Without the role, the same provider uses the default credentials.
	k.ResetCalls()
	awsWrap(t, p, k.KeyARN, dataKey, scope)
	if log := k.CallLog(); len(log) != 1 || log[0].AccessKeyID != kmstest.LocalKMSAccessKeyID {
		t.Errorf("calls %+v, want one with the default credentials", log)
	}
}

func TestAWSAssumeRoleUnreachable(t *testing.T) {
	k := kmstest.LocalKMSForTest(t)
	awsEnv(t, k)
	endpoint := "http://" + awsClosedPort(t)
	t.Setenv("AWS_ENDPOINT_URL_STS", endpoint)
	const role = "arn:aws:iam::111122223333:role/r"
	p := keyring.NewAWS(keyring.AWSOptions{})
	_, err := awsRecipient(t, p, k.KeyARN+"+"+role).Wrap(context.Background(), awsDataKey(t), keyring.Scope{Name: "s"})
	awsCheckErr(t, err, []string{"aws: cannot reach AWS STS in eu-west-2 to assume role " + role + ": dial tcp"},
		"AWS_ENDPOINT_URL_STS sets the endpoint to "+endpoint)
}

func TestAWSAssumeRoleDenied(t *testing.T) {
	k := kmstest.LocalKMSForTest(t)
	awsEnv(t, k)
	srv := httptest.NewServer(&awsSTS{deny: true})
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)
	const role = "arn:aws:iam::111122223333:role/forbidden"
	p := keyring.NewAWS(keyring.AWSOptions{})
	_, err := awsRecipient(t, p, k.KeyARN+"+"+role).Wrap(context.Background(), awsDataKey(t), keyring.Scope{Name: "s"})
	awsCheckErr(t, err, []string{"aws: cannot assume role " + role + ": ", "AccessDenied"}, "needs sts:AssumeRole on "+role)
	if n := len(k.CallLog()); n != 0 {
		t.Errorf("%d KMS calls after the role was refused", n)
	}
}
