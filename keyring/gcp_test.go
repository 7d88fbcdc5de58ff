package keyring_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/internal/kmstest"
	"github.com/ksec-dev/ksec/keyring"
)

const (
	gcpKeyA = "projects/ksec-test/locations/global/keyRings/ring/cryptoKeys/a"
	gcpKeyB = "projects/ksec-test/locations/europe-west1/keyRings/ring-2/cryptoKeys/b_2"
)

var gcpScope = keyring.Scope{Namespace: "prod", Name: "db-credentials"}

// gcpSafeEnv keeps every test of this file away from real Google
// credentials and the instance-metadata server: should the client look for
// credentials anyway, it finds a missing file and a dead loopback port.
func gcpSafeEnv(t *testing.T) {
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(t.TempDir(), "no-such-credentials.json"))
	t.Setenv("GCE_METADATA_HOST", "127.0.0.1:1")
	t.Setenv("GOOGLE_AUTH_TRUST_BOUNDARY_ENABLED", "")
	t.Setenv("GOOGLE_API_USE_CLIENT_CERTIFICATE", "false")
	t.Setenv("EXPERIMENTAL_GOOGLE_API_USE_S2A", "")
	t.Setenv("HOME", t.TempDir())
}

// gcpFake starts the fake service with keys A and B.
func gcpFake(t *testing.T) *kmstest.GCPKMS {
	t.Helper()
	gcpSafeEnv(t)
	f := kmstest.GCPKMSForTest(t)
	require.NoError(t, f.AddGCPKey(gcpKeyA))
	require.NoError(t, f.AddGCPKey(gcpKeyB))
	return f
}

func gcpProvider(t *testing.T, opts keyring.GCPOptions) keyring.Provider {
	t.Helper()
	p := keyring.NewGCP(opts)
	require.Equal(t, "gcp", p.Type())
	t.Cleanup(func() {
		c, ok := p.(io.Closer)
		require.True(t, ok, "the gcp provider has a Close method")
		require.NoError(t, c.Close())
	})
	return p
}

func gcpDataKey(t *testing.T) []byte {
	t.Helper()
	k, err := crypto.NewDataKey()
	require.NoError(t, err)
	return k
}

func gcpWrap(t *testing.T, p keyring.Provider, key string, dataKey []byte, scope keyring.Scope) keyring.Stanza {
	t.Helper()
	r, err := p.ParseRecipient(context.Background(), key)
	require.NoError(t, err)
	s, err := r.Wrap(context.Background(), dataKey, scope)
	require.NoError(t, err)
	return s
}

// gcpLP is the length-prefixed encoding of docs/FORMAT.md, written out
// again here so that the test pins the bytes the provider sends.
func gcpLP(parts ...string) []byte {
	var b []byte
	for _, p := range parts {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

func gcpRequireHint(t *testing.T, err error, want ...string) {
	t.Helper()
	all := strings.Join(hint.All(err), "\n")
	for _, w := range want {
		require.Contains(t, all, w, "hints of %v", err)
	}
}

func TestGCPParseRecipient(t *testing.T) {
	f := gcpFake(t)
	p := gcpProvider(t, keyring.GCPOptions{Endpoint: f.Addr})
	ctx := context.Background()

	for _, good := range []string{
		gcpKeyA,
		gcpKeyB,
		"projects/example.com:my-proj/locations/us-east1/keyRings/R/cryptoKeys/K",
		"projects/123456789012/locations/global/keyRings/r/cryptoKeys/k",
		"projects/p/locations/global/keyRings/r/cryptoKeys/" + strings.Repeat("k", 63),
	} {
		r, err := p.ParseRecipient(ctx, good)
		require.NoError(t, err, good)
		require.Equal(t, "gcp", r.Type())
		require.Equal(t, good, r.ID())
	}

	for _, tc := range []struct{ spec, err, hint string }{
		{gcpKeyA + "/cryptoKeyVersions/1", "is a Cloud KMS key version, not a key", "name the key, not one of its versions"},
		{gcpKeyA + "/", "is not a Cloud KMS key name", "gcp:projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY"},
		{"projects/p/locations/global/keyRings/r", "is not a Cloud KMS key name", "cryptoKeys/KEY"},
		{"projects/p/locations/global/cryptoKeys/k", "is not a Cloud KMS key name", "keyRings/RING"},
		{"projects//locations/global/keyRings/r/cryptoKeys/k", "is not a Cloud KMS key name", "projects/PROJECT"},
		{"projects/p/locations/global/keyRings/r/cryptoKeys/", "is not a Cloud KMS key name", "cryptoKeys/KEY"},
		{"projects/p/locations/global/keyRings/r/cryptoKeys/k k", "is not a Cloud KMS key name", "cryptoKeys/KEY"},
		{" " + gcpKeyA, "is not a Cloud KMS key name", "cryptoKeys/KEY"},
		{"//cloudkms/" + gcpKeyA, "is not a Cloud KMS key name", "cryptoKeys/KEY"},
		{"projects/p/locations/global/keyRings/r/cryptoKeys/k/extra", "is not a Cloud KMS key name", "cryptoKeys/KEY"},
		{"arn:aws:kms:eu-west-2:111122223333:key/x", "is not a Cloud KMS key name", "cryptoKeys/KEY"},
		{"projects/My_Proj/locations/global/keyRings/r/cryptoKeys/k", "is not a Cloud KMS key name", "cryptoKeys/KEY"},
		{"projects/p/locations/global/keyRings/r/cryptoKeys/" + strings.Repeat("k", 64), "is not a Cloud KMS key name", "cryptoKeys/KEY"},
		{"projects/p/locations/global/keyrings/r/cryptoKeys/k", "is not a Cloud KMS key name", "keyRings/RING"},
	} {
		_, err := p.ParseRecipient(ctx, tc.spec)
		require.Error(t, err, tc.spec)
		require.Contains(t, err.Error(), tc.err, tc.spec)
		gcpRequireHint(t, err, tc.hint)
	}

	// Through the keyring: the prefix and the bare form reach the provider.
	k := keyring.New([]keyring.Provider{p}, nil)
	for _, spec := range []string{"gcp:" + gcpKeyB, gcpKeyB} {
		r, err := k.ParseRecipient(ctx, spec)
		require.NoError(t, err, spec)
		require.Equal(t, gcpKeyB, r.ID())
	}
	_, err := k.ParseRecipient(ctx, "gcp:"+gcpKeyB+"/cryptoKeyVersions/3")
	require.ErrorContains(t, err, "key version")

	require.Zero(t, f.GCPCalls("Encrypt")+f.GCPCalls("Decrypt"), "ParseRecipient must not call Cloud KMS")
	require.Zero(t, f.GCPConns(), "ParseRecipient must not even connect")
}

func TestGCPRoundTrip(t *testing.T) {
	f := gcpFake(t)
	p := gcpProvider(t, keyring.GCPOptions{Endpoint: f.Addr})
	ctx := context.Background()
	dataKey := gcpDataKey(t)

	sa := gcpWrap(t, p, gcpKeyA, dataKey, gcpScope)
	require.Equal(t, "gcp", sa.Type)
	require.Equal(t, gcpKeyA, sa.ID)
	require.False(t, bytes.Contains(sa.Wrapped, dataKey), "the wrapped key must not contain the data key")
	require.Equal(t, 1, f.GCPCalls("Encrypt"), "one Encrypt per Wrap")
	require.Zero(t, f.GCPCalls("Decrypt"))

	got, err := p.AmbientIdentity().Unwrap(ctx, []keyring.Stanza{sa}, gcpScope)
	require.NoError(t, err)
	require.Equal(t, dataKey, got)
	require.Equal(t, 1, f.GCPCalls("Decrypt"), "one Decrypt per Unwrap")

	// Two recipients, unwrapped through the keyring, which hands the
	// provider only its own stanzas: the first gcp stanza works.
	sb := gcpWrap(t, p, gcpKeyB, dataKey, gcpScope)
	f.ResetGCPCalls()
	k := keyring.New([]keyring.Provider{p}, nil)
	other := keyring.Stanza{Type: "pgp", ID: strings.Repeat("AB", 20), Wrapped: []byte("x")}
	got, err = k.Unwrap(ctx, []keyring.Stanza{other, sb, sa}, gcpScope)
	require.NoError(t, err)
	require.Equal(t, dataKey, got)
	require.Equal(t, 1, f.GCPCalls("Decrypt"))

	// One client, one connection, and no credentials sent to a loopback endpoint.
	require.Equal(t, 1, f.GCPConns())
	require.Zero(t, f.GCPCallsWithAuth())

	// Only other types' stanzas: not for this identity.
	_, err = p.AmbientIdentity().Unwrap(ctx, []keyring.Stanza{other}, gcpScope)
	require.ErrorIs(t, err, keyring.ErrIncorrectIdentity)
}

// TestGCPAdditionalData pins the additional authenticated data of
// docs/FORMAT.md by decrypting the provider's output with a plain client.
func TestGCPAdditionalData(t *testing.T) {
	f := gcpFake(t)
	p := gcpProvider(t, keyring.GCPOptions{Endpoint: f.Addr})
	dataKey := gcpDataKey(t)
	s := gcpWrap(t, p, gcpKeyA, dataKey, gcpScope)

	ctx := context.Background()
	c, err := kms.NewKeyManagementClient(ctx, f.GCPClientOptions()...)
	require.NoError(t, err)
	defer c.Close()

	resp, err := c.Decrypt(ctx, &kmspb.DecryptRequest{
		Name:                        gcpKeyA,
		Ciphertext:                  s.Wrapped,
		AdditionalAuthenticatedData: gcpLP("ksec v1 gcp", "prod", "db-credentials"),
	})
	require.NoError(t, err)
	require.Equal(t, dataKey, resp.Plaintext)

	_, err = c.Decrypt(ctx, &kmspb.DecryptRequest{Name: gcpKeyA, Ciphertext: s.Wrapped})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "no additional data: %v", err)
}

func TestGCPScopeBinding(t *testing.T) {
	f := gcpFake(t)
	p := gcpProvider(t, keyring.GCPOptions{Endpoint: f.Addr})
	ctx := context.Background()
	id := p.AmbientIdentity()
	dataKey := gcpDataKey(t)

	s := gcpWrap(t, p, gcpKeyA, dataKey, keyring.Scope{Namespace: "ab", Name: "c"})
	for _, scope := range []keyring.Scope{
		{Namespace: "a", Name: "bc"}, // same concatenation, other scope
		{Namespace: "ab", Name: "d"},
		{Namespace: "", Name: "c"},
		{Namespace: "c", Name: "ab"},
	} {
		_, err := id.Unwrap(ctx, []keyring.Stanza{s}, scope)
		require.ErrorIs(t, err, crypto.ErrIntegrity, "scope %+v", scope)
		require.ErrorContains(t, err, "does not belong to Secret "+scope.Namespace+"/"+scope.Name)
		require.ErrorContains(t, err, gcpKeyA)
	}

	// An altered wrapped key, and one moved to another key's stanza.
	altered := s
	altered.Wrapped = bytes.Clone(s.Wrapped)
	altered.Wrapped[len(altered.Wrapped)-1] ^= 1
	_, err := id.Unwrap(ctx, []keyring.Stanza{altered}, keyring.Scope{Namespace: "ab", Name: "c"})
	require.ErrorIs(t, err, crypto.ErrIntegrity)

	moved := s
	moved.ID = gcpKeyB
	_, err = id.Unwrap(ctx, []keyring.Stanza{moved}, keyring.Scope{Namespace: "ab", Name: "c"})
	require.ErrorIs(t, err, crypto.ErrIntegrity)

	// Through the keyring the failure is kept and still recognisable.
	k := keyring.New([]keyring.Provider{p}, nil)
	_, err = k.Unwrap(ctx, []keyring.Stanza{s}, keyring.Scope{Namespace: "a", Name: "bc"})
	require.ErrorIs(t, err, keyring.ErrNoIdentity)
	require.ErrorIs(t, err, crypto.ErrIntegrity)
}

func TestGCPServiceErrors(t *testing.T) {
	f := gcpFake(t)
	p := gcpProvider(t, keyring.GCPOptions{Endpoint: f.Addr})
	ctx := context.Background()
	id := p.AmbientIdentity()
	dataKey := gcpDataKey(t)
	sa := gcpWrap(t, p, gcpKeyA, dataKey, gcpScope)

	wrapErr := func(key string) error {
		r, err := p.ParseRecipient(ctx, key)
		require.NoError(t, err)
		s, err := r.Wrap(ctx, dataKey, gcpScope)
		require.Error(t, err)
		require.Empty(t, s.Wrapped)
		return err
	}

	t.Run("not found", func(t *testing.T) {
		missing := "projects/ksec-test/locations/global/keyRings/ring/cryptoKeys/missing"
		err := wrapErr(missing)
		require.Equal(t, codes.NotFound, status.Code(err))
		require.ErrorContains(t, err, "gcp kms encrypt with key "+missing+": key not found")
		gcpRequireHint(t, err, "the key does not exist", "project, location, key ring")

		_, err = id.Unwrap(ctx, []keyring.Stanza{{Type: "gcp", ID: missing, Wrapped: sa.Wrapped}}, gcpScope)
		require.Equal(t, codes.NotFound, status.Code(err))
		require.NotErrorIs(t, err, crypto.ErrIntegrity)
		gcpRequireHint(t, err, "the key does not exist")
	})

	t.Run("permission denied", func(t *testing.T) {
		require.NoError(t, f.SetGCPKeyDenied(gcpKeyA, true))
		defer func() { require.NoError(t, f.SetGCPKeyDenied(gcpKeyA, false)) }()
		err := wrapErr(gcpKeyA)
		require.Equal(t, codes.PermissionDenied, status.Code(err))
		require.ErrorContains(t, err, "permission denied")
		gcpRequireHint(t, err, "cloudkms.cryptoKeyVersions.useToEncrypt", "roles/cloudkms.cryptoKeyEncrypter", gcpKeyA)

		_, err = id.Unwrap(ctx, []keyring.Stanza{sa}, gcpScope)
		require.Equal(t, codes.PermissionDenied, status.Code(err))
		gcpRequireHint(t, err, "cloudkms.cryptoKeyVersions.useToDecrypt", "roles/cloudkms.cryptoKeyDecrypter")
	})

	t.Run("disabled", func(t *testing.T) {
		require.NoError(t, f.SetGCPKeyDisabled(gcpKeyA, true))
		defer func() { require.NoError(t, f.SetGCPKeyDisabled(gcpKeyA, false)) }()
		err := wrapErr(gcpKeyA)
		require.Equal(t, codes.FailedPrecondition, status.Code(err))
		require.ErrorContains(t, err, "key version not enabled")
		gcpRequireHint(t, err, "disabled, destroyed", "gcloud kms keys versions list --key "+gcpKeyA)

		_, err = id.Unwrap(ctx, []keyring.Stanza{sa}, gcpScope)
		require.Equal(t, codes.FailedPrecondition, status.Code(err))
	})

	t.Run("several stanzas fail", func(t *testing.T) {
		require.NoError(t, f.SetGCPKeyDenied(gcpKeyB, true))
		defer func() { require.NoError(t, f.SetGCPKeyDenied(gcpKeyB, false)) }()
		missing := keyring.Stanza{Type: "gcp", ID: gcpKeyA + "x", Wrapped: sa.Wrapped}
		denied := keyring.Stanza{Type: "gcp", ID: gcpKeyB, Wrapped: sa.Wrapped}
		_, err := id.Unwrap(ctx, []keyring.Stanza{missing, denied}, gcpScope)
		require.ErrorContains(t, err, "key not found")
		require.ErrorContains(t, err, "permission denied")
		gcpRequireHint(t, err, "the key does not exist", "useToDecrypt")
	})

	t.Run("wrong data key size", func(t *testing.T) {
		f.ResetGCPCalls()
		r, err := p.ParseRecipient(ctx, gcpKeyA)
		require.NoError(t, err)
		_, err = r.Wrap(ctx, dataKey[:16], gcpScope)
		require.ErrorContains(t, err, "data key is 16 bytes, want 32")
		require.Zero(t, f.GCPCalls("Encrypt"))
	})

	t.Run("bad stanza id", func(t *testing.T) {
		f.ResetGCPCalls()
		_, err := id.Unwrap(ctx, []keyring.Stanza{{Type: "gcp", ID: "not-a-key", Wrapped: sa.Wrapped}}, gcpScope)
		require.ErrorContains(t, err, "is not a Cloud KMS key name")
		require.Zero(t, f.GCPCalls("Decrypt"))
	})
}

func TestGCPCorruptedMessages(t *testing.T) {
	f := gcpFake(t)
	p := gcpProvider(t, keyring.GCPOptions{Endpoint: f.Addr})
	ctx := context.Background()
	id := p.AmbientIdentity()
	dataKey := gcpDataKey(t)
	s := gcpWrap(t, p, gcpKeyA, dataKey, gcpScope)
	r, err := p.ParseRecipient(ctx, gcpKeyA)
	require.NoError(t, err)

	f.SetGCPFault(kmstest.GCPFaultResponseCRC)
	_, err = r.Wrap(ctx, dataKey, gcpScope)
	require.ErrorContains(t, err, "the encrypt response failed its checksum")
	gcpRequireHint(t, err, "corrupted between ksec and Cloud KMS")
	_, err = id.Unwrap(ctx, []keyring.Stanza{s}, gcpScope)
	require.ErrorContains(t, err, "the decrypt response failed its checksum")
	require.NotErrorIs(t, err, crypto.ErrIntegrity, "transport corruption is not tampering with the file")

	f.SetGCPFault(kmstest.GCPFaultUnverified)
	_, err = r.Wrap(ctx, dataKey, gcpScope)
	require.ErrorContains(t, err, "did not confirm the checksums of the encrypt request")

	f.SetGCPFault(kmstest.GCPFaultNone)
	got, err := id.Unwrap(ctx, []keyring.Stanza{s}, gcpScope)
	require.NoError(t, err)
	require.Equal(t, dataKey, got)
}

func TestGCPNothingListening(t *testing.T) {
	gcpSafeEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	p := gcpProvider(t, keyring.GCPOptions{Endpoint: addr})
	// The deadline only keeps a regression from hanging the suite; the
	// provider must give up on its own, with UNAVAILABLE, well before.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()

	r, err := p.ParseRecipient(ctx, gcpKeyA)
	require.NoError(t, err)
	_, err = r.Wrap(ctx, gcpDataKey(t), gcpScope)
	require.Error(t, err)
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	require.NoError(t, ctx.Err())
	require.ErrorContains(t, err, "service unavailable")
	gcpRequireHint(t, err, "Cloud KMS at "+addr+" could not be reached", "KSEC_GCP_KMS_ENDPOINT")

	_, err = p.AmbientIdentity().Unwrap(ctx, []keyring.Stanza{{Type: "gcp", ID: gcpKeyA, Wrapped: []byte("x")}}, gcpScope)
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	require.NoError(t, ctx.Err())
}

func TestGCPTimeout(t *testing.T) {
	f := gcpFake(t)
	p := gcpProvider(t, keyring.GCPOptions{Endpoint: f.Addr, Timeout: 300 * time.Millisecond})
	f.SetGCPFault(kmstest.GCPFaultStall)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	r, err := p.ParseRecipient(ctx, gcpKeyA)
	require.NoError(t, err)
	_, err = r.Wrap(ctx, gcpDataKey(t), gcpScope)
	require.Equal(t, codes.DeadlineExceeded, status.Code(err), "%v", err)
	require.NoError(t, ctx.Err(), "the provider's own timeout must end the call")
	gcpRequireHint(t, err, "did not answer within 300ms")
	require.Equal(t, 1, f.GCPCalls("Encrypt"), "a timed-out call is not retried")
}

func TestGCPCallerCancels(t *testing.T) {
	f := gcpFake(t)
	p := gcpProvider(t, keyring.GCPOptions{Endpoint: f.Addr})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := p.ParseRecipient(ctx, gcpKeyA)
	require.NoError(t, err)
	_, err = r.Wrap(ctx, gcpDataKey(t), gcpScope)
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, hint.All(err), "a cancelled run needs no advice")
}

// TestGCPLoopbackNeedsNoCredentials: with a loopback endpoint the provider
// works although no credentials exist anywhere, and sends none.
func TestGCPLoopbackNeedsNoCredentials(t *testing.T) {
	f := gcpFake(t) // GOOGLE_APPLICATION_CREDENTIALS names a missing file
	for _, ep := range []string{f.Addr, "localhost:" + gcpPort(t, f.Addr)} {
		p := gcpProvider(t, keyring.GCPOptions{Endpoint: ep})
		s := gcpWrap(t, p, gcpKeyA, gcpDataKey(t), gcpScope)
		_, err := p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{s}, gcpScope)
		require.NoError(t, err, ep)
	}
	require.Zero(t, f.GCPCallsWithAuth())
}

func gcpPort(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	return port
}

// A non-loopback endpoint keeps authentication: without credentials the
// provider fails before any connection, with the ADC advice.
func TestGCPPrivateEndpointNeedsCredentials(t *testing.T) {
	f := gcpFake(t) // GOOGLE_APPLICATION_CREDENTIALS names a missing file
	// 0.0.0.0 is not loopback for ksec, yet a connection to it would stay
	// on this machine.
	p := gcpProvider(t, keyring.GCPOptions{Endpoint: "0.0.0.0:" + gcpPort(t, f.Addr)})
	r, err := p.ParseRecipient(context.Background(), gcpKeyA)
	require.NoError(t, err)
	_, err = r.Wrap(context.Background(), gcpDataKey(t), gcpScope)
	require.ErrorContains(t, err, "creating the Cloud KMS client")
	require.ErrorContains(t, err, "no-such-credentials.json")
	gcpRequireHint(t, err, "gcloud auth application-default login", "GOOGLE_APPLICATION_CREDENTIALS")

	_, err = p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{{Type: "gcp", ID: gcpKeyA, Wrapped: []byte("x")}}, gcpScope)
	gcpRequireHint(t, err, "gcloud auth application-default login")
	require.Zero(t, f.GCPConns())
}

// A non-loopback endpoint keeps TLS: given credentials, the provider
// speaks TLS to the plaintext fake and so never completes a call.
func TestGCPPrivateEndpointKeepsTLS(t *testing.T) {
	f := gcpFake(t)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", gcpServiceAccountFile(t))
	p := gcpProvider(t, keyring.GCPOptions{Endpoint: "0.0.0.0:" + gcpPort(t, f.Addr)})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	r, err := p.ParseRecipient(ctx, gcpKeyA)
	require.NoError(t, err)
	_, err = r.Wrap(ctx, gcpDataKey(t), gcpScope)
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	require.NotZero(t, f.GCPConns(), "the client did try to connect")
	require.Zero(t, f.GCPCalls("Encrypt"), "no request may reach the server without TLS")
	require.ErrorContains(t, err, "tls:")
	gcpRequireHint(t, err, "did not complete a TLS handshake")
}

// gcpServiceAccountFile writes a service-account key file with a fresh RSA
// key. The client signs its own JWTs with it (no token endpoint involved);
// its token_uri is a dead loopback port in case that ever changes.
func gcpServiceAccountFile(t *testing.T) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	js, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "ksec-test",
		"private_key_id": "0123456789abcdef",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "ksec-test@ksec-test.iam.gserviceaccount.com",
		"client_id":      "1",
		"token_uri":      "http://127.0.0.1:1/token",
	})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "sa.json")
	require.NoError(t, os.WriteFile(path, js, 0o600))
	return path
}

// TestGCPSDKLoggingSilenced: the SDK's debug logging would print request
// payloads, data keys included; the provider turns it off.
func TestGCPSDKLoggingSilenced(t *testing.T) {
	f := gcpFake(t)
	t.Setenv("GOOGLE_SDK_GO_LOGGING_LEVEL", "debug")

	capture := func(run func()) string {
		r, w, err := os.Pipe()
		require.NoError(t, err)
		saved := os.Stderr
		os.Stderr = w
		done := make(chan []byte)
		go func() { b, _ := io.ReadAll(r); done <- b }()
		func() {
			defer func() { os.Stderr = saved }()
			run()
		}()
		require.NoError(t, w.Close())
		return string(<-done)
	}

	// A plain client does log with this setting: the check below can fail.
	plain := capture(func() {
		c, err := kms.NewKeyManagementClient(context.Background(), f.GCPClientOptions()...)
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Encrypt(context.Background(), &kmspb.EncryptRequest{Name: gcpKeyA, Plaintext: []byte("x")})
		require.NoError(t, err)
	})
	require.Contains(t, plain, "api request")

	out := capture(func() {
		p := gcpProvider(t, keyring.GCPOptions{Endpoint: f.Addr})
		s := gcpWrap(t, p, gcpKeyA, gcpDataKey(t), gcpScope)
		_, err := p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{s}, gcpScope)
		require.NoError(t, err)
	})
	require.NotContains(t, out, "api request")
	require.NotContains(t, out, "plaintext")
}

func TestGCPEndpointMustBeHostPort(t *testing.T) {
	gcpSafeEnv(t)
	p := gcpProvider(t, keyring.GCPOptions{Endpoint: "http://127.0.0.1:9"})
	r, err := p.ParseRecipient(context.Background(), gcpKeyA)
	require.NoError(t, err)
	_, err = r.Wrap(context.Background(), gcpDataKey(t), gcpScope)
	require.ErrorContains(t, err, "is not host:port")
	gcpRequireHint(t, err, "KSEC_GCP_KMS_ENDPOINT")
	require.False(t, errors.Is(err, crypto.ErrIntegrity))
}
