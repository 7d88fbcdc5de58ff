package keyring_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ksec-dev/ksec/internal/kmstest"
	"github.com/ksec-dev/ksec/keyring"
)

// An AWS KMS endpoint that answers Decrypt with megabytes is cut off after
// 64 KiB, with an error that says so.
func TestAWSHugeReply(t *testing.T) {
	k := kmstest.LocalKMSForTest(t)
	awsEnv(t, k)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Write([]byte(`{"KeyId":"` + k.KeyARN + `","Plaintext":"`))
		chunk := []byte(strings.Repeat("A", 64<<10))
		for range 64 { // 4 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		w.Write([]byte(`"}`))
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_KMS", srv.URL)
	p := keyring.NewAWS(keyring.AWSOptions{Timeout: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := p.AmbientIdentity().Unwrap(ctx, []keyring.Stanza{{Type: "aws", ID: k.KeyARN, Wrapped: []byte("blob")}}, keyring.Scope{Name: "s"})
	awsCheckErr(t, err, []string{"aws kms decrypt with " + k.KeyARN + ": the reply is larger than 64 KiB: ksec stopped reading it"},
		"AWS_ENDPOINT_URL_KMS sets the endpoint to "+srv.URL)
	require.NoError(t, ctx.Err())
}

// A Cloud KMS endpoint that answers Decrypt with a megabyte is refused by
// the client before the reply is kept.
func TestGCPHugeReply(t *testing.T) {
	f := gcpFake(t)
	p := gcpProvider(t, keyring.GCPOptions{Endpoint: f.Addr, Timeout: 5 * time.Second})
	stz := gcpWrap(t, p, gcpKeyA, gcpDataKey(t), gcpScope)
	f.SetGCPFault(kmstest.GCPFaultHugeReply)
	_, err := p.AmbientIdentity().Unwrap(context.Background(), []keyring.Stanza{stz}, gcpScope)
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	require.ErrorContains(t, err, "gcp kms decrypt with key "+gcpKeyA+": ")
	require.ErrorContains(t, err, "larger than max (1048")
}
