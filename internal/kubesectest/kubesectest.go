// Package kubesectest writes files in shyiko/kubesec's format (v1 to v4),
// for tests of ksec's kubesec reader. It follows the format's description
// (docs/MIGRATING.md, "The kubesec format"), independently of the reader:
// values sealed with AES-GCM under the raw data key with the key name as
// additional data, padded with NUL to 48 bytes; a GMAC over the key names,
// values and recipient IDs; keys wrapped by gpg (signed, armored), AWS KMS
// without encryption context and Cloud KMS without additional data.
package kubesectest

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"

	kmsgcp "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	kmsaws "github.com/aws/aws-sdk-go-v2/service/kms"
	"google.golang.org/api/option"
	yaml2 "sigs.k8s.io/yaml/goyaml.v2"

	"github.com/ksec-dev/ksec/internal/kmstest"
)

// Recipient is one key line: its type (pgp, gcp, aws), ID and wrapped key
// (for pgp, gpg's armored message).
type Recipient struct {
	Type    string
	ID      string
	Wrapped []byte
}

// Options shape a file.
type Options struct {
	Version    int         // 1 to 4
	DataKey    []byte      // 32 bytes; the recipients' wrapped keys must hold it
	Recipients []Recipient // footer order, which is also MAC order
}

// NewDataKey returns a random 32-byte data key.
func NewDataKey() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(err)
	}
	return k
}

// Write encrypts the Secret in manifest as kubesec does: the document
// re-marshalled by yaml.v2, data values sealed as their base64 text,
// stringData values as they are, then the footer.
func Write(manifest []byte, opts Options) ([]byte, error) {
	doc := map[any]any{}
	if err := yaml2.Unmarshal(manifest, &doc); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(opts.DataKey)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	var mac bytes.Buffer
	for _, field := range []string{"data", "stringData"} {
		m, ok := doc[field].(map[any]any)
		if !ok {
			continue
		}
		keys := make([]string, 0, len(m))
		out := map[string]string{}
		for k, v := range m {
			ks, vs := fmt.Sprint(k), fmt.Sprint(v)
			keys = append(keys, ks)
			if vs == "" && opts.Version < 3 {
				out[ks] = ""
				continue
			}
			out[ks] = seal(gcm, vs, ks)
		}
		sort.Strings(keys)
		for _, k := range keys {
			mac.WriteString(k)
			mac.WriteString(fmt.Sprint(m[k]))
		}
		doc[field] = out
	}
	for _, r := range opts.Recipients {
		mac.WriteString(r.ID)
	}
	body, err := yaml2.Marshal(doc)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.Write(body)
	fmt.Fprintf(&b, "# kubesec:v:%d\n", opts.Version)
	for _, r := range opts.Recipients {
		fmt.Fprintf(&b, "# kubesec:%s:%s:%s\n", r.Type, r.ID, base64.StdEncoding.EncodeToString(r.Wrapped))
	}
	if opts.Version >= 3 {
		iv := make([]byte, 12)
		if _, err := rand.Read(iv); err != nil {
			return nil, err
		}
		tag := gcm.Seal(nil, iv, nil, mac.Bytes())
		fmt.Fprintf(&b, "# kubesec:mac:%s.%s\n", base64.StdEncoding.EncodeToString(iv), base64.StdEncoding.EncodeToString(tag))
	}
	return []byte(b.String()), nil
}

// seal pads value with NUL to a multiple of 48 bytes and seals it with the
// key name as additional data: base64(ct).base64(iv).base64(tag), or
// base64(iv).base64(tag) for an empty value.
func seal(gcm cipher.AEAD, value, key string) string {
	if pad := len(value) % 48; pad != 0 {
		value += strings.Repeat("\x00", 48-pad)
	}
	iv := make([]byte, 12)
	if _, err := rand.Read(iv); err != nil {
		panic(err)
	}
	out := gcm.Seal(nil, iv, []byte(value), []byte(key))
	ct, tag := out[:len(out)-16], out[len(out)-16:]
	enc := base64.StdEncoding.EncodeToString
	if len(ct) == 0 {
		return enc(iv) + "." + enc(tag)
	}
	return enc(ct) + "." + enc(iv) + "." + enc(tag)
}

// WrapPGP wraps dataKey as kubesec does: gpg --sign -a -e -r ID, signed
// with the default secret key of the GnuPG home (GNUPGHOME in env).
func WrapPGP(env []string, id string, dataKey []byte) ([]byte, error) {
	cmd := exec.Command("gpg", "--batch", "--trust-model", "always", "--sign", "-a", "-e", "-r", id)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = bytes.NewReader(dataKey)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("gpg --sign -a -e -r %s: %w: %s", id, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out.Bytes(), nil
}

// WrapAWS wraps dataKey with AWS KMS Encrypt, no encryption context, at
// endpoint (local-kms) with static credentials.
func WrapAWS(ctx context.Context, endpoint, arn string, dataKey []byte) ([]byte, error) {
	parts := strings.Split(arn, ":")
	if len(parts) < 6 {
		return nil, errors.New("kubesectest: not an ARN")
	}
	c := kmsaws.New(kmsaws.Options{
		Region:       parts[3],
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(kmstest.LocalKMSAccessKeyID, kmstest.LocalKMSSecretAccessKey, ""),
	})
	out, err := c.Encrypt(ctx, &kmsaws.EncryptInput{KeyId: aws.String(arn), Plaintext: dataKey})
	if err != nil {
		return nil, err
	}
	return out.CiphertextBlob, nil
}

// WrapGCP wraps dataKey with Cloud KMS Encrypt, no additional data.
func WrapGCP(ctx context.Context, opts []option.ClientOption, name string, dataKey []byte) ([]byte, error) {
	c, err := kmsgcp.NewKeyManagementClient(ctx, opts...)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	resp, err := c.Encrypt(ctx, &kmspb.EncryptRequest{Name: name, Plaintext: dataKey})
	if err != nil {
		return nil, err
	}
	return resp.GetCiphertext(), nil
}
