package keyring

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/hint"
)

// gcpType is the provider type and the stanza type of Cloud KMS recipients.
const gcpType = "gcp"

// gcpAADDomain starts the additional authenticated data of every Cloud KMS
// wrap, so a ciphertext made by ksec cannot pass for another tool's.
const gcpAADDomain = "ksec v1 gcp"

// gcpDefaultTimeout bounds each Cloud KMS call when GCPOptions.Timeout is 0.
const gcpDefaultTimeout = 10 * time.Second

// gcpAttempts is how many times a call that found the service unavailable
// is made in all: enough for a blip, few enough that a wrong endpoint or a
// dead network is reported in about a second instead of at the deadline.
const gcpAttempts = 3

const (
	hintGCPSpec    = "a Cloud KMS key is written gcp:projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY"
	hintGCPVersion = "name the key, not one of its versions: Cloud KMS encrypts with the key's primary version and finds the version itself when decrypting"
	hintGCPADC     = "set up Application Default Credentials: run gcloud auth application-default login, or set GOOGLE_APPLICATION_CREDENTIALS to a readable credentials file"
	hintGCPRetry   = "the message was corrupted between ksec and Cloud KMS; try again, and check any proxy on the way"
)

// GCPOptions configures the Google Cloud KMS provider.
type GCPOptions struct {
	// Endpoint is the Cloud KMS gRPC endpoint as host:port; "" is Google's
	// default. A loopback endpoint (127.0.0.0/8, ::1, localhost) is taken
	// to be a local test server: it is reached without TLS and without
	// credentials. Any other endpoint (a private one) keeps TLS and
	// Application Default Credentials.
	Endpoint string
	// Timeout bounds each call to Cloud KMS; 0 means 10 seconds.
	Timeout time.Duration
}

// NewGCP returns the Google Cloud KMS provider. Recipients are symmetric
// ENCRYPT_DECRYPT keys named by their resource name; its ambient identity
// decrypts with Application Default Credentials. No client is made, and
// no credentials are looked up, until a key is first used.
func NewGCP(opts GCPOptions) Provider {
	if opts.Timeout <= 0 {
		opts.Timeout = gcpDefaultTimeout
	}
	return &gcpProvider{opts: opts}
}

type gcpProvider struct {
	opts GCPOptions

	mu     sync.Mutex
	client *kms.KeyManagementClient
}

func (p *gcpProvider) Type() string { return gcpType }

// BindsScope says wrapped keys carry the Secret's scope in their additional
// authenticated data, so a renamed Secret needs its data key wrapped again.
func (p *gcpProvider) BindsScope() bool { return true }

// ParseRecipient checks the shape of a key name; it does not contact Cloud
// KMS, so a missing key or permission shows up at the first Wrap.
func (p *gcpProvider) ParseRecipient(_ context.Context, spec string) (Recipient, error) {
	if err := checkGCPKeyName(spec); err != nil {
		return nil, err
	}
	return &gcpRecipient{p: p, name: spec}, nil
}

func (p *gcpProvider) AmbientIdentity() Identity { return &gcpIdentity{p: p} }

// Close releases the client's connections, if a client was made.
func (p *gcpProvider) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil {
		return nil
	}
	err := p.client.Close()
	p.client = nil
	return err
}

func checkGCPKeyName(name string) error {
	if isGCPKeyName(name) {
		return nil
	}
	if i := strings.Index(name, "/cryptoKeyVersions/"); i > 0 && isGCPKeyName(name[:i]) {
		return hint.Wrap(fmt.Errorf("%q is a Cloud KMS key version, not a key", name), hintGCPVersion)
	}
	return hint.Wrap(fmt.Errorf("%q is not a Cloud KMS key name", name), hintGCPSpec)
}

// isGCPKeyName reports whether name is projects/P/locations/L/keyRings/R/cryptoKeys/K.
// Project IDs may be domain-scoped ("example.com:proj") or numbers; key
// ring and key IDs are Cloud KMS resource IDs. (Not a regexp: compiling
// one would cost every ksec run, GCP or not, at start-up.)
func isGCPKeyName(name string) bool {
	parts := strings.Split(name, "/")
	if len(parts) != 8 || parts[0] != "projects" || parts[2] != "locations" || parts[4] != "keyRings" || parts[6] != "cryptoKeys" {
		return false
	}
	return gcpIDOf(parts[1], "abcdefghijklmnopqrstuvwxyz0123456789.:-", 100) &&
		gcpIDOf(parts[3], "abcdefghijklmnopqrstuvwxyz0123456789-", 63) &&
		gcpIDOf(parts[5], gcpResourceIDChars, 63) &&
		gcpIDOf(parts[7], gcpResourceIDChars, 63)
}

const gcpResourceIDChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

func gcpIDOf(s, chars string, maxLen int) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune(chars, c) {
			return false
		}
	}
	return true
}

// gcpAAD is the additional authenticated data binding a wrapped data key to
// its Secret: lp("ksec v1 gcp") || lp(namespace) || lp(name), where lp(x)
// is x's length as 4 bytes big-endian followed by x.
func gcpAAD(scope Scope) []byte {
	if scope.Unbound {
		return nil
	}
	var b []byte
	for _, s := range []string{gcpAADDomain, scope.Namespace, scope.Name} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

func crc32c(b []byte) int64 {
	return int64(crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// isLoopbackEndpoint reports whether a host:port (or bare host) names this
// machine.
func isLoopbackEndpoint(endpoint string) bool {
	host := endpoint
	if h, _, err := net.SplitHostPort(endpoint); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (p *gcpProvider) endpointName() string {
	if p.opts.Endpoint == "" {
		return "Cloud KMS"
	}
	return "Cloud KMS at " + p.opts.Endpoint
}

// kmsClient returns the provider's one client, making it on first use.
// A failure is not kept, so a later call may succeed (after a login, say).
func (p *gcpProvider) kmsClient(ctx context.Context) (*kms.KeyManagementClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		return p.client, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// SDK debug logging (GOOGLE_SDK_GO_LOGGING_LEVEL) would print request
	// and response payloads, data keys included: silence it for good.
	// Replies are bounded: an answer about a 32-byte data key is small,
	// and a larger one is refused before it is read into memory.
	opts := []option.ClientOption{
		option.WithLogger(slog.New(slog.DiscardHandler)),
		option.WithGRPCDialOption(grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxReply))),
	}
	local := false
	if ep := p.opts.Endpoint; ep != "" {
		if strings.Contains(ep, "://") || strings.ContainsAny(ep, "/ ") {
			return nil, hint.Wrap(fmt.Errorf("cloud kms endpoint %q is not host:port", ep),
				"set KSEC_GCP_KMS_ENDPOINT to HOST:PORT, e.g. 127.0.0.1:9090 for a local test server")
		}
		opts = append(opts, option.WithEndpoint(ep))
		if isLoopbackEndpoint(ep) {
			local = true
			opts = append(opts,
				option.WithoutAuthentication(),
				option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
		}
	}
	// The client may keep the context for token refreshes; only the calls
	// made with it are bounded.
	c, err := kms.NewKeyManagementClient(context.WithoutCancel(ctx), opts...)
	if err != nil {
		err = fmt.Errorf("creating the Cloud KMS client: %w", err)
		if local {
			return nil, err
		}
		return nil, hint.Wrap(err, hintGCPADC)
	}
	p.client = c
	return c, nil
}

// callOptions replace the SDK's retry policy (retry while unavailable until
// a 60 s timeout) with a few quick attempts inside the provider's timeout.
func gcpCallOptions() []gax.CallOption {
	return []gax.CallOption{gax.WithRetry(func() gax.Retryer {
		return &gcpRetryer{
			left: gcpAttempts - 1,
			next: gax.OnCodes([]codes.Code{codes.Unavailable}, gax.Backoff{
				Initial:    100 * time.Millisecond,
				Max:        time.Second,
				Multiplier: 2,
			}),
		}
	})}
}

type gcpRetryer struct {
	left int
	next gax.Retryer
}

func (r *gcpRetryer) Retry(err error) (time.Duration, bool) {
	if r.left <= 0 {
		return 0, false
	}
	r.left--
	return r.next.Retry(err)
}

type gcpRecipient struct {
	p    *gcpProvider
	name string
}

func (r *gcpRecipient) Type() string { return gcpType }
func (r *gcpRecipient) ID() string   { return r.name }

// Wrap encrypts the data key with Cloud KMS, bound to scope, and checks the
// CRC32C checksums both ways as Google recommends, so a message corrupted
// in transit is never stored.
func (r *gcpRecipient) Wrap(ctx context.Context, dataKey []byte, scope Scope) (Stanza, error) {
	if len(dataKey) != crypto.DataKeySize {
		return Stanza{}, fmt.Errorf("gcp: data key is %d bytes, want %d", len(dataKey), crypto.DataKeySize)
	}
	c, err := r.p.kmsClient(ctx)
	if err != nil {
		return Stanza{}, fmt.Errorf("wrapping the data key with gcp key %s: %w", r.name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.p.opts.Timeout)
	defer cancel()
	aad := gcpAAD(scope)
	resp, err := c.Encrypt(ctx, &kmspb.EncryptRequest{
		Name:                              r.name,
		Plaintext:                         dataKey,
		AdditionalAuthenticatedData:       aad,
		PlaintextCrc32C:                   wrapperspb.Int64(crc32c(dataKey)),
		AdditionalAuthenticatedDataCrc32C: wrapperspb.Int64(crc32c(aad)),
	}, gcpCallOptions()...)
	if err != nil {
		return Stanza{}, r.p.callError(ctx, "encrypt", r.name, err)
	}
	if !resp.GetVerifiedPlaintextCrc32C() || !resp.GetVerifiedAdditionalAuthenticatedDataCrc32C() {
		return Stanza{}, hint.Wrap(fmt.Errorf("gcp key %s: cloud kms did not confirm the checksums of the encrypt request", r.name), hintGCPRetry)
	}
	if resp.GetCiphertextCrc32C() == nil || resp.GetCiphertextCrc32C().GetValue() != crc32c(resp.GetCiphertext()) {
		return Stanza{}, hint.Wrap(fmt.Errorf("gcp key %s: the encrypt response failed its checksum", r.name), hintGCPRetry)
	}
	return Stanza{Type: gcpType, ID: r.name, Wrapped: resp.GetCiphertext()}, nil
}

// gcpIdentity decrypts with whatever credentials the process has: a
// Secret's gcp stanzas name the keys to try.
type gcpIdentity struct {
	p *gcpProvider
}

func (id *gcpIdentity) Unwrap(ctx context.Context, stanzas []Stanza, scope Scope) ([]byte, error) {
	return unwrapEach(ctx, stanzas, gcpType, func(s Stanza) ([]byte, error) { return id.unwrap(ctx, s, scope) })
}

func (id *gcpIdentity) unwrap(ctx context.Context, s Stanza, scope Scope) ([]byte, error) {
	if err := checkGCPKeyName(s.ID); err != nil {
		return nil, fmt.Errorf("gcp stanza: %w", err)
	}
	c, err := id.p.kmsClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("unwrapping the data key with gcp key %s: %w", s.ID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, id.p.opts.Timeout)
	defer cancel()
	aad := gcpAAD(scope)
	resp, err := c.Decrypt(ctx, &kmspb.DecryptRequest{
		Name:                              s.ID,
		Ciphertext:                        s.Wrapped,
		AdditionalAuthenticatedData:       aad,
		CiphertextCrc32C:                  wrapperspb.Int64(crc32c(s.Wrapped)),
		AdditionalAuthenticatedDataCrc32C: wrapperspb.Int64(crc32c(aad)),
	}, gcpCallOptions()...)
	if err != nil {
		if status.Code(err) == codes.InvalidArgument && scope.Unbound {
			return nil, fmt.Errorf("%w: gcp key %s refused the wrapped data key: it was altered or is not this key's (%s)",
				crypto.ErrIntegrity, s.ID, status.Convert(err).Message())
		}
		if status.Code(err) == codes.InvalidArgument {
			return nil, fmt.Errorf("%w: gcp key %s refused the wrapped data key: it does not belong to Secret %s/%s, or it was altered (%s)",
				crypto.ErrIntegrity, s.ID, scope.Namespace, scope.Name, status.Convert(err).Message())
		}
		return nil, id.p.callError(ctx, "decrypt", s.ID, err)
	}
	plain := resp.GetPlaintext()
	if resp.GetPlaintextCrc32C() == nil || resp.GetPlaintextCrc32C().GetValue() != crc32c(plain) {
		return nil, hint.Wrap(fmt.Errorf("gcp key %s: the decrypt response failed its checksum", s.ID), hintGCPRetry)
	}
	if len(plain) != crypto.DataKeySize {
		return nil, fmt.Errorf("%w: gcp key %s unwrapped a %d-byte key, want %d", crypto.ErrIntegrity, s.ID, len(plain), crypto.DataKeySize)
	}
	return plain, nil
}

// callError names the key and the operation and adds advice by status code.
// ctx is the call's own context, to tell its deadline from the caller's.
func (p *gcpProvider) callError(ctx context.Context, op, key string, err error) error {
	st, _ := status.FromError(err)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		// gax returns the bare context error when the deadline ends a retry pause.
		st = status.FromContextError(err)
	}
	desc := st.Message()
	if desc == "" {
		desc = err.Error()
	}
	e := &gcpCallError{msg: fmt.Sprintf("gcp kms %s with key %s: %s: %s", op, key, codeText(st.Code()), desc), err: err}
	perm, role := "cloudkms.cryptoKeyVersions.useToEncrypt", "roles/cloudkms.cryptoKeyEncrypter"
	if op == "decrypt" {
		perm, role = "cloudkms.cryptoKeyVersions.useToDecrypt", "roles/cloudkms.cryptoKeyDecrypter"
	}
	switch {
	case errors.Is(err, context.Canceled) || st.Code() == codes.Canceled:
		return e
	case st.Code() == codes.PermissionDenied:
		return hint.Wrap(e, fmt.Sprintf("the caller needs permission %s on %s (role %s); Cloud KMS also answers this way when the key does not exist", perm, key, role))
	case st.Code() == codes.NotFound:
		return hint.Wrap(e, "the key does not exist: check the project, location, key ring and key name (gcloud kms keys list --keyring RING --location LOCATION --project PROJECT)")
	case st.Code() == codes.FailedPrecondition:
		return hint.Wrap(e, "the key version Cloud KMS needs is disabled, destroyed or scheduled for destruction: see gcloud kms keys versions list --key "+key)
	case st.Code() == codes.Unauthenticated, strings.Contains(desc, "per-RPC creds"):
		// gRPC reports a failure to get a token as UNAVAILABLE.
		return hint.Wrap(e, hintGCPADC)
	case st.Code() == codes.Unavailable && (strings.Contains(desc, "tls:") || strings.Contains(desc, "x509:")):
		return hint.Wrap(e, fmt.Sprintf("%s did not complete a TLS handshake: ksec uses TLS for every endpoint but a loopback one (127.0.0.1, ::1, localhost), where it speaks plaintext to a local test server", p.endpointName()))
	case st.Code() == codes.Unavailable:
		return hint.Wrap(e, fmt.Sprintf("%s could not be reached: check the network and proxy settings, and KSEC_GCP_KMS_ENDPOINT if set", p.endpointName()))
	case st.Code() == codes.DeadlineExceeded, ctx.Err() != nil:
		return hint.Wrap(e, fmt.Sprintf("%s did not answer within %s: check the network and proxy settings, and KSEC_GCP_KMS_ENDPOINT if set", p.endpointName(), p.opts.Timeout))
	case st.Code() == codes.InvalidArgument:
		return hint.Wrap(e, "the key must be a symmetric key with purpose ENCRYPT_DECRYPT")
	}
	return e
}

// gcpCallError says briefly what failed and keeps the gRPC error for
// errors.Is and status.Code.
type gcpCallError struct {
	msg string
	err error
}

func (e *gcpCallError) Error() string { return e.msg }
func (e *gcpCallError) Unwrap() error { return e.err }

func codeText(c codes.Code) string {
	switch c {
	case codes.PermissionDenied:
		return "permission denied"
	case codes.NotFound:
		return "key not found"
	case codes.FailedPrecondition:
		return "key version not enabled"
	case codes.Unauthenticated:
		return "not authenticated"
	case codes.Unavailable:
		return "service unavailable"
	case codes.DeadlineExceeded:
		return "timed out"
	}
	return strings.ToLower(strings.ReplaceAll(c.String(), "_", " "))
}
