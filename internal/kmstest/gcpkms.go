package kmstest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"hash/crc32"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// GCPFault makes GCPKMS misbehave the way a broken network or proxy would.
type GCPFault int

const (
	// GCPFaultNone: answer correctly.
	GCPFaultNone GCPFault = iota
	// GCPFaultResponseCRC: return a wrong ciphertext_crc32c (Encrypt) or
	// plaintext_crc32c (Decrypt), as if the response was corrupted.
	GCPFaultResponseCRC
	// GCPFaultUnverified: ignore the request's checksums and leave the
	// verified_* fields false, as if a proxy had dropped them.
	GCPFaultUnverified
	// GCPFaultStall: answer nothing until the caller gives up.
	GCPFaultStall
	// GCPFaultHugeReply: answer Decrypt with a 1 MiB plaintext (with its
	// correct checksum), as a misbehaving endpoint could.
	GCPFaultHugeReply
)

// Cloud KMS's size limits for Encrypt and Decrypt.
const (
	gcpMaxPlaintext  = 64 * 1024
	gcpMaxAAD        = 64 * 1024
	gcpMaxCiphertext = 64*1024 + 800
	gcpNonceSize     = 12
)

var gcpKeyName = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$`)

// GCPKMS is an in-process Cloud KMS KeyManagementService serving Encrypt
// and Decrypt over gRPC on 127.0.0.1, for the real Cloud KMS client. Each
// key is one enabled AES-256-GCM version (cryptoKeyVersions/1); a
// ciphertext is nonce || sealed bytes. It checks additional data and
// CRC32C checksums like the real service and answers with its status codes.
type GCPKMS struct {
	kmspb.UnimplementedKeyManagementServiceServer

	// Addr is host:port to give the client as its endpoint (KSEC_GCP_KMS_ENDPOINT).
	Addr string

	srv *grpc.Server
	lis *gcpCountingListener

	mu        sync.Mutex
	keys      map[string]*gcpFakeKey
	calls     map[string]int
	withAuth  int
	fault     GCPFault
	stopOnce  sync.Once
	serveDone chan struct{}
}

type gcpFakeKey struct {
	aead     cipher.AEAD
	denied   bool
	disabled bool
}

// StartGCPKMS starts a server with no keys on a free port of 127.0.0.1.
// Stop it with Stop.
func StartGCPKMS() (*GCPKMS, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("gcp kms fake: listen: %w", err)
	}
	f := &GCPKMS{
		Addr:      l.Addr().String(),
		srv:       grpc.NewServer(),
		lis:       &gcpCountingListener{Listener: l},
		keys:      map[string]*gcpFakeKey{},
		calls:     map[string]int{},
		serveDone: make(chan struct{}),
	}
	kmspb.RegisterKeyManagementServiceServer(f.srv, f)
	go func() {
		defer close(f.serveDone)
		_ = f.srv.Serve(f.lis)
	}()
	return f, nil
}

// GCPKMSForTest starts a server for one test and stops it at cleanup.
func GCPKMSForTest(t testing.TB) *GCPKMS {
	t.Helper()
	f, err := StartGCPKMS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	return f
}

// GCPClientOptions are the options a Cloud KMS client needs to reach the
// server: its endpoint, plaintext gRPC and no credentials (a client left to
// find credentials could probe the instance-metadata server).
func (f *GCPKMS) GCPClientOptions() []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(f.Addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// Env returns the environment entries that point a ksec process at the
// server. GCE_METADATA_HOST names a loopback port where nothing listens, so
// that should anything look for Google credentials anyway, it asks there
// and never the real instance-metadata address.
func (f *GCPKMS) Env() []string {
	return []string{
		"KSEC_GCP_KMS_ENDPOINT=" + f.Addr,
		"GCE_METADATA_HOST=127.0.0.1:1",
		"GOOGLE_APPLICATION_CREDENTIALS=",
	}
}

// Stop closes the listener and every connection at once.
func (f *GCPKMS) Stop() {
	f.stopOnce.Do(func() {
		f.srv.Stop()
		<-f.serveDone
	})
}

// AddGCPKey creates a key named projects/P/locations/L/keyRings/R/cryptoKeys/K
// with a fresh random AES-256 key. Adding an existing name replaces its
// key material, so old ciphertexts stop decrypting.
func (f *GCPKMS) AddGCPKey(name string) error {
	if !gcpKeyName.MatchString(name) {
		return fmt.Errorf("gcp kms fake: %q is not a CryptoKey name", name)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[name] = &gcpFakeKey{aead: aead}
	return nil
}

// SetGCPKeyDenied makes calls on the key fail with PERMISSION_DENIED, as
// for a caller without the cloudkms.cryptoKeyVersions.useTo* permissions.
func (f *GCPKMS) SetGCPKeyDenied(name string, denied bool) error {
	return f.withKey(name, func(k *gcpFakeKey) { k.denied = denied })
}

// SetGCPKeyDisabled makes calls on the key fail with FAILED_PRECONDITION,
// as when its version is disabled.
func (f *GCPKMS) SetGCPKeyDisabled(name string, disabled bool) error {
	return f.withKey(name, func(k *gcpFakeKey) { k.disabled = disabled })
}

func (f *GCPKMS) withKey(name string, set func(*gcpFakeKey)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.keys[name]
	if !ok {
		return fmt.Errorf("gcp kms fake: no key %q", name)
	}
	set(k)
	return nil
}

// SetGCPFault makes every following call misbehave as fault says.
func (f *GCPKMS) SetGCPFault(fault GCPFault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = fault
}

// GCPCalls returns how many calls of method ("Encrypt" or "Decrypt") the
// server received since start or the last ResetGCPCalls, failed ones included.
func (f *GCPKMS) GCPCalls(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// GCPCallsWithAuth returns how many calls carried an authorization header.
func (f *GCPKMS) GCPCallsWithAuth() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.withAuth
}

// ResetGCPCalls zeroes the call counters.
func (f *GCPKMS) ResetGCPCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = map[string]int{}
	f.withAuth = 0
}

// GCPConns returns how many TCP connections the server has accepted.
func (f *GCPKMS) GCPConns() int { return f.lis.accepted() }

// begin counts a call and returns a copy of the named key's state (nil if
// there is no such key) and the fault in force.
func (f *GCPKMS) begin(ctx context.Context, method, name string) (*gcpFakeKey, GCPFault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[method]++
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get("authorization")) > 0 {
		f.withAuth++
	}
	k, ok := f.keys[name]
	if !ok {
		return nil, f.fault
	}
	c := *k
	return &c, f.fault
}

// Encrypt encrypts with the key's only version.
func (f *GCPKMS) Encrypt(ctx context.Context, req *kmspb.EncryptRequest) (*kmspb.EncryptResponse, error) {
	keyName := strings.TrimSuffix(req.GetName(), "/cryptoKeyVersions/1")
	key, fault := f.begin(ctx, "Encrypt", keyName)
	if fault == GCPFaultStall {
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if err := gcpKeyUsable(key, req.GetName(), keyName, "useToEncrypt"); err != nil {
		return nil, err
	}
	pt, aad := req.GetPlaintext(), req.GetAdditionalAuthenticatedData()
	switch {
	case len(pt) == 0:
		return nil, status.Error(codes.InvalidArgument, "Plaintext is required.")
	case len(pt) > gcpMaxPlaintext:
		return nil, status.Errorf(codes.InvalidArgument, "The plaintext must be at most %d bytes.", gcpMaxPlaintext)
	case len(aad) > gcpMaxAAD:
		return nil, status.Errorf(codes.InvalidArgument, "The additional authenticated data must be at most %d bytes.", gcpMaxAAD)
	}
	verifyPT, verifyAAD := req.GetPlaintextCrc32C() != nil, req.GetAdditionalAuthenticatedDataCrc32C() != nil
	if fault == GCPFaultUnverified {
		verifyPT, verifyAAD = false, false
	}
	if verifyPT && req.GetPlaintextCrc32C().GetValue() != gcpCRC32C(pt) {
		return nil, gcpChecksumError("plaintext")
	}
	if verifyAAD && req.GetAdditionalAuthenticatedDataCrc32C().GetValue() != gcpCRC32C(aad) {
		return nil, gcpChecksumError("additional_authenticated_data")
	}
	nonce := make([]byte, gcpNonceSize, gcpNonceSize+len(pt)+key.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	ct := key.aead.Seal(nonce, nonce, pt, aad)
	crc := gcpCRC32C(ct)
	if fault == GCPFaultResponseCRC {
		crc++
	}
	return &kmspb.EncryptResponse{
		Name:                    keyName + "/cryptoKeyVersions/1",
		Ciphertext:              ct,
		CiphertextCrc32C:        wrapperspb.Int64(crc),
		VerifiedPlaintextCrc32C: verifyPT,
		VerifiedAdditionalAuthenticatedDataCrc32C: verifyAAD,
		ProtectionLevel: kmspb.ProtectionLevel_SOFTWARE,
	}, nil
}

// Decrypt decrypts a ciphertext made by Encrypt with the same key and AAD.
func (f *GCPKMS) Decrypt(ctx context.Context, req *kmspb.DecryptRequest) (*kmspb.DecryptResponse, error) {
	key, fault := f.begin(ctx, "Decrypt", req.GetName())
	if fault == GCPFaultStall {
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if strings.Contains(req.GetName(), "/cryptoKeyVersions/") {
		return nil, status.Errorf(codes.InvalidArgument, "Decrypt takes a CryptoKey name, not a CryptoKeyVersion: %s", req.GetName())
	}
	if err := gcpKeyUsable(key, req.GetName(), req.GetName(), "useToDecrypt"); err != nil {
		return nil, err
	}
	ct, aad := req.GetCiphertext(), req.GetAdditionalAuthenticatedData()
	switch {
	case len(ct) == 0:
		return nil, status.Error(codes.InvalidArgument, "Ciphertext is required.")
	case len(ct) > gcpMaxCiphertext:
		return nil, status.Errorf(codes.InvalidArgument, "The ciphertext must be at most %d bytes.", gcpMaxCiphertext)
	case len(aad) > gcpMaxAAD:
		return nil, status.Errorf(codes.InvalidArgument, "The additional authenticated data must be at most %d bytes.", gcpMaxAAD)
	}
	if fault != GCPFaultUnverified {
		if c := req.GetCiphertextCrc32C(); c != nil && c.GetValue() != gcpCRC32C(ct) {
			return nil, gcpChecksumError("ciphertext")
		}
		if c := req.GetAdditionalAuthenticatedDataCrc32C(); c != nil && c.GetValue() != gcpCRC32C(aad) {
			return nil, gcpChecksumError("additional_authenticated_data")
		}
	}
	if len(ct) < gcpNonceSize+key.aead.Overhead() {
		return nil, gcpDecryptionFailed()
	}
	pt, err := key.aead.Open(nil, ct[:gcpNonceSize], ct[gcpNonceSize:], aad)
	if err != nil {
		return nil, gcpDecryptionFailed()
	}
	if fault == GCPFaultHugeReply {
		pt = make([]byte, 1<<20)
	}
	crc := gcpCRC32C(pt)
	if fault == GCPFaultResponseCRC {
		crc++
	}
	return &kmspb.DecryptResponse{
		Plaintext:       pt,
		PlaintextCrc32C: wrapperspb.Int64(crc),
		UsedPrimary:     true,
		ProtectionLevel: kmspb.ProtectionLevel_SOFTWARE,
	}, nil
}

// gcpKeyUsable answers like Cloud KMS for a key the caller may not use.
// The permission check comes first: the real service does not tell a
// caller without permission whether a key exists.
func gcpKeyUsable(key *gcpFakeKey, reqName, keyName, perm string) error {
	if key != nil && key.denied {
		return status.Errorf(codes.PermissionDenied,
			"Permission 'cloudkms.cryptoKeyVersions.%s' denied on resource '%s' (or it may not exist).", perm, reqName)
	}
	if key == nil {
		return status.Errorf(codes.NotFound, "%s not found.", reqName)
	}
	if key.disabled {
		return status.Errorf(codes.FailedPrecondition,
			"%s/cryptoKeyVersions/1 is not enabled, current state is: DISABLED.", keyName)
	}
	return nil
}

func gcpDecryptionFailed() error {
	return status.Error(codes.InvalidArgument, "Decryption failed: verify that 'name' refers to the correct CryptoKey.")
}

func gcpChecksumError(field string) error {
	return status.Errorf(codes.InvalidArgument,
		"The checksum in field %s_crc32c did not match the data in field %s.", field, field)
}

func gcpCRC32C(b []byte) int64 {
	return int64(crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// gcpCountingListener counts accepted connections, so tests can see that
// one client keeps one connection.
type gcpCountingListener struct {
	net.Listener
	mu sync.Mutex
	n  int
}

func (l *gcpCountingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.n++
		l.mu.Unlock()
	}
	return c, err
}

func (l *gcpCountingListener) accepted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}
