package kmstest

import (
	"context"
	"testing"

	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const gcpTestKey = "projects/p/locations/global/keyRings/r/cryptoKeys/k"

func gcpTestClient(t *testing.T) (*GCPKMS, *kms.KeyManagementClient) {
	t.Helper()
	t.Setenv("GCE_METADATA_HOST", "127.0.0.1:1")
	f := GCPKMSForTest(t)
	require.NoError(t, f.AddGCPKey(gcpTestKey))
	c, err := kms.NewKeyManagementClient(context.Background(), f.GCPClientOptions()...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return f, c
}

// The checksum fields behave as the Cloud KMS documentation describes.
func TestGCPKMSChecksums(t *testing.T) {
	f, c := gcpTestClient(t)
	ctx := context.Background()
	pt, aad := []byte("data key"), []byte("aad")

	// Without checksums: nothing verified, response checksums still set.
	enc, err := c.Encrypt(ctx, &kmspb.EncryptRequest{Name: gcpTestKey, Plaintext: pt, AdditionalAuthenticatedData: aad})
	require.NoError(t, err)
	require.False(t, enc.VerifiedPlaintextCrc32C)
	require.False(t, enc.VerifiedAdditionalAuthenticatedDataCrc32C)
	require.Equal(t, gcpCRC32C(enc.Ciphertext), enc.CiphertextCrc32C.GetValue())
	require.Equal(t, gcpTestKey+"/cryptoKeyVersions/1", enc.Name)

	// Only the fields sent are verified.
	enc, err = c.Encrypt(ctx, &kmspb.EncryptRequest{Name: gcpTestKey, Plaintext: pt, PlaintextCrc32C: wrapperspb.Int64(gcpCRC32C(pt))})
	require.NoError(t, err)
	require.True(t, enc.VerifiedPlaintextCrc32C)
	require.False(t, enc.VerifiedAdditionalAuthenticatedDataCrc32C)

	_, err = c.Encrypt(ctx, &kmspb.EncryptRequest{Name: gcpTestKey, Plaintext: pt, PlaintextCrc32C: wrapperspb.Int64(1)})
	require.Equal(t, codes.InvalidArgument, status.Code(err))
	require.ErrorContains(t, err, "plaintext_crc32c")
	_, err = c.Encrypt(ctx, &kmspb.EncryptRequest{Name: gcpTestKey, Plaintext: pt, AdditionalAuthenticatedData: aad,
		AdditionalAuthenticatedDataCrc32C: wrapperspb.Int64(1)})
	require.Equal(t, codes.InvalidArgument, status.Code(err))

	dec, err := c.Decrypt(ctx, &kmspb.DecryptRequest{Name: gcpTestKey, Ciphertext: enc.Ciphertext})
	require.NoError(t, err)
	require.Equal(t, pt, dec.Plaintext)
	require.Equal(t, gcpCRC32C(pt), dec.PlaintextCrc32C.GetValue())

	_, err = c.Decrypt(ctx, &kmspb.DecryptRequest{Name: gcpTestKey, Ciphertext: enc.Ciphertext, CiphertextCrc32C: wrapperspb.Int64(1)})
	require.Equal(t, codes.InvalidArgument, status.Code(err))
	require.ErrorContains(t, err, "ciphertext_crc32c")

	require.Equal(t, 4, f.GCPCalls("Encrypt"))
	require.Equal(t, 2, f.GCPCalls("Decrypt"))
	f.ResetGCPCalls()
	require.Zero(t, f.GCPCalls("Encrypt"))
}

func TestGCPKMSNamesAndStates(t *testing.T) {
	f, c := gcpTestClient(t)
	ctx := context.Background()

	enc, err := c.Encrypt(ctx, &kmspb.EncryptRequest{Name: gcpTestKey + "/cryptoKeyVersions/1", Plaintext: []byte("x")})
	require.NoError(t, err, "Encrypt accepts a version name")
	_, err = c.Encrypt(ctx, &kmspb.EncryptRequest{Name: gcpTestKey + "/cryptoKeyVersions/2", Plaintext: []byte("x")})
	require.Equal(t, codes.NotFound, status.Code(err))
	_, err = c.Decrypt(ctx, &kmspb.DecryptRequest{Name: gcpTestKey + "/cryptoKeyVersions/1", Ciphertext: enc.Ciphertext})
	require.Equal(t, codes.InvalidArgument, status.Code(err))

	require.NoError(t, f.AddGCPKey(gcpTestKey+"2"))
	_, err = c.Decrypt(ctx, &kmspb.DecryptRequest{Name: gcpTestKey + "2", Ciphertext: enc.Ciphertext})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "another key's ciphertext")
	require.ErrorContains(t, err, "Decryption failed")

	require.NoError(t, f.SetGCPKeyDenied(gcpTestKey, true))
	_, err = c.Decrypt(ctx, &kmspb.DecryptRequest{Name: gcpTestKey, Ciphertext: enc.Ciphertext})
	require.Equal(t, codes.PermissionDenied, status.Code(err))
	require.ErrorContains(t, err, "cloudkms.cryptoKeyVersions.useToDecrypt")
	require.NoError(t, f.SetGCPKeyDenied(gcpTestKey, false))

	require.NoError(t, f.SetGCPKeyDisabled(gcpTestKey, true))
	_, err = c.Decrypt(ctx, &kmspb.DecryptRequest{Name: gcpTestKey, Ciphertext: enc.Ciphertext})
	require.Equal(t, codes.FailedPrecondition, status.Code(err))
	require.NoError(t, f.SetGCPKeyDisabled(gcpTestKey, false))

	_, err = c.Encrypt(ctx, &kmspb.EncryptRequest{Name: gcpTestKey, Plaintext: make([]byte, 64*1024+1)})
	require.Equal(t, codes.InvalidArgument, status.Code(err))

	require.Error(t, f.AddGCPKey("projects/p/cryptoKeys/k"))
	require.Error(t, f.SetGCPKeyDenied("projects/p/locations/l/keyRings/r/cryptoKeys/none", true))
	require.Zero(t, f.GCPCallsWithAuth())
	require.Equal(t, 1, f.GCPConns())
	f.Stop()
	f.Stop()
}
