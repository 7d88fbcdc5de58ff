package keyring

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ksec-dev/ksec/crypto"
	"github.com/ksec-dev/ksec/internal/hint"
)

// awsType is the provider type and the stanza type of AWS KMS recipients.
const awsType = "aws"

// awsDefaultTimeout bounds one KMS call, credential lookup included. KMS
// answers in milliseconds; the bound is for networks that drop packets.
const awsDefaultTimeout = 10 * time.Second

// The encryption context keys that bind a wrapped data key to its Secret.
// A key is left out when its value is empty (a Secret without a namespace),
// so no empty value is ever sent.
const (
	awsContextNamespace = "ksec.namespace"
	awsContextName      = "ksec.name"
)

const (
	hintAWSSpec        = "write an AWS KMS key as aws:arn:aws:kms:REGION:ACCOUNT:key/KEY_ID or aws:arn:aws:kms:REGION:ACCOUNT:alias/NAME, optionally followed by +arn:aws:iam::ACCOUNT:role/NAME to assume that role"
	hintAWSCredentials = "ksec uses the AWS SDK's default credentials: set AWS_PROFILE to a profile of ~/.aws/config (run aws sso login first for an SSO profile), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
	hintAWSProfile     = "check AWS_PROFILE, AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE"
	hintAWSIntegrity   = "the wrapped data key is bound to the Secret's namespace and name: the Secret was renamed or moved to another namespace, or its ksec block was altered; restore it, or encrypt the plaintext again"
)

// AWSOptions configures the AWS KMS provider.
type AWSOptions struct {
	// Timeout bounds each KMS call, looking up credentials included;
	// 0 means 10 seconds.
	Timeout time.Duration
}

// NewAWS returns the AWS KMS provider. Recipients are KMS key or alias ARNs,
// optionally with a role to assume; its ambient identity is whatever the
// AWS SDK's default credential chain finds. Nothing is loaded or contacted
// until a key is used.
func NewAWS(opts AWSOptions) Provider {
	if opts.Timeout <= 0 {
		opts.Timeout = awsDefaultTimeout
	}
	return &awsProvider{timeout: opts.Timeout, clients: map[awsClientKey]*awsClient{}}
}

type awsProvider struct {
	timeout time.Duration

	mu      sync.Mutex
	base    *aws.Config // the SDK's default configuration, loaded on first use
	clients map[awsClientKey]*awsClient
}

type awsClientKey struct{ region, role string }

type awsClient struct {
	kms  *kms.Client
	base aws.CredentialsProvider // the default chain's credentials; nil when none
	role aws.CredentialsProvider // the assumed role's; nil without a role
}

func (p *awsProvider) Type() string { return awsType }

// ParseRecipient checks the spec's shape only; it contacts nothing.
func (p *awsProvider) ParseRecipient(_ context.Context, spec string) (Recipient, error) {
	k, err := parseAWSKey(spec)
	if err != nil {
		return nil, err
	}
	return &awsRecipient{p: p, key: k}, nil
}

func (p *awsProvider) AmbientIdentity() Identity { return &awsIdentity{p: p} }

// BindsScope says wrapped keys carry the Secret's scope in their KMS
// encryption context, so a renamed Secret needs them wrapped again.
func (p *awsProvider) BindsScope() bool { return true }

// awsKey is a parsed key spec: KEY_ARN or KEY_ARN+ROLE_ARN.
type awsKey struct {
	spec   string // as written; the stanza ID
	arn    string // key or alias ARN, sent as KeyId
	role   string // role ARN to assume, or ""
	region string
}

// awsPatterns are compiled at the first AWS key spec, not at start-up:
// compiling them cost every ksec run 24 KB of allocation and ~300
// allocations in package init (see startup_test.go).
var awsPatterns = sync.OnceValue(func() struct{ region, account, keyID, alias, role *regexp.Regexp } {
	return struct{ region, account, keyID, alias, role *regexp.Regexp }{
		region:  regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+)+-[0-9]+$`),
		account: regexp.MustCompile(`^[0-9]{12}$`),
		keyID:   regexp.MustCompile(`^(mrk-)?[0-9a-fA-F-]+$`),
		alias:   regexp.MustCompile(`^[A-Za-z0-9/_-]+$`),
		role:    regexp.MustCompile(`^role/([\x21-\x7e]+/)?[A-Za-z0-9+=,.@_-]+$`),
	}
})

func parseAWSKey(spec string) (awsKey, error) {
	keyARN, role, hasRole := strings.Cut(spec, "+")
	a, err := parseAWSARN(keyARN, "kms")
	if err == nil {
		err = checkAWSKeyARN(a)
	}
	if err != nil {
		return awsKey{}, hint.Wrap(fmt.Errorf("not an AWS KMS key ARN: %w", err), hintAWSSpec)
	}
	if hasRole {
		r, err := parseAWSARN(role, "iam")
		if err == nil {
			err = checkAWSRoleARN(r, a.Partition)
		}
		if err != nil {
			return awsKey{}, hint.Wrap(fmt.Errorf("not an AWS IAM role ARN after \"+\": %w", err), hintAWSSpec)
		}
	}
	return awsKey{spec: spec, arn: keyARN, role: role, region: a.Region}, nil
}

func parseAWSARN(s, service string) (arn.ARN, error) {
	if s == "" {
		return arn.ARN{}, errors.New("it is empty")
	}
	a, err := arn.Parse(s)
	if err != nil {
		return arn.ARN{}, fmt.Errorf("%q does not have the shape arn:PARTITION:%s:…", s, service)
	}
	if a.Partition != "aws" && !strings.HasPrefix(a.Partition, "aws-") {
		return arn.ARN{}, fmt.Errorf("unknown partition %q in %s", a.Partition, s)
	}
	if a.Service != service {
		return arn.ARN{}, fmt.Errorf("%s names the service %q, not %q", s, a.Service, service)
	}
	if !awsPatterns().account.MatchString(a.AccountID) {
		return arn.ARN{}, fmt.Errorf("account %q in %s is not a 12-digit AWS account ID", a.AccountID, s)
	}
	return a, nil
}

func checkAWSKeyARN(a arn.ARN) error {
	if !awsPatterns().region.MatchString(a.Region) {
		return fmt.Errorf("region %q in %s is not an AWS region", a.Region, a)
	}
	switch typ, id, _ := strings.Cut(a.Resource, "/"); {
	case typ == "key" && awsPatterns().keyID.MatchString(id):
	case typ == "alias" && awsPatterns().alias.MatchString(id):
	default:
		return fmt.Errorf("%s names %q, not key/KEY_ID or alias/NAME", a, a.Resource)
	}
	return nil
}

func checkAWSRoleARN(r arn.ARN, partition string) error {
	if r.Region != "" {
		return fmt.Errorf("role ARN %s has a region; IAM role ARNs have none", r)
	}
	if r.Partition != partition {
		return fmt.Errorf("role %s is in partition %q, the key in %q", r, r.Partition, partition)
	}
	if !awsPatterns().role.MatchString(r.Resource) {
		return fmt.Errorf("%s names %q, not role/NAME", r, r.Resource)
	}
	return nil
}

func (k awsKey) String() string {
	if k.role != "" {
		return k.arn + " as " + k.role
	}
	return k.arn
}

type awsRecipient struct {
	p   *awsProvider
	key awsKey
}

func (r *awsRecipient) Type() string { return awsType }
func (r *awsRecipient) ID() string   { return r.key.spec }

func (r *awsRecipient) Wrap(ctx context.Context, dataKey []byte, scope Scope) (Stanza, error) {
	if len(dataKey) != crypto.DataKeySize {
		return Stanza{}, fmt.Errorf("aws kms: refusing to wrap a %d-byte data key", len(dataKey))
	}
	ctx, cancel := context.WithTimeout(ctx, r.p.timeout)
	defer cancel()
	c, err := r.p.client(ctx, r.key)
	if err != nil {
		return Stanza{}, err
	}
	out, err := c.kms.Encrypt(ctx, &kms.EncryptInput{
		KeyId:             aws.String(r.key.arn),
		Plaintext:         dataKey,
		EncryptionContext: awsEncryptionContext(scope),
	})
	if err != nil {
		return Stanza{}, r.p.explain(ctx, "encrypt", r.key, err)
	}
	return Stanza{Type: awsType, ID: r.key.spec, Wrapped: out.CiphertextBlob}, nil
}

// awsEncryptionContext is the scope as KMS encryption context, which KMS
// authenticates with the ciphertext and records in CloudTrail.
func awsEncryptionContext(s Scope) map[string]string {
	if s.Unbound {
		return nil
	}
	ec := map[string]string{}
	if s.Namespace != "" {
		ec[awsContextNamespace] = s.Namespace
	}
	if s.Name != "" {
		ec[awsContextName] = s.Name
	}
	if len(ec) == 0 {
		return nil
	}
	return ec
}

type awsIdentity struct{ p *awsProvider }

// Unwrap asks KMS to decrypt each aws stanza in turn, naming the stanza's
// key so KMS checks that the ciphertext is that key's.
func (id *awsIdentity) Unwrap(ctx context.Context, stanzas []Stanza, scope Scope) ([]byte, error) {
	return unwrapEach(ctx, stanzas, awsType, func(s Stanza) ([]byte, error) { return id.p.decrypt(ctx, s, scope) })
}

func (p *awsProvider) decrypt(ctx context.Context, s Stanza, scope Scope) ([]byte, error) {
	k, err := parseAWSKey(s.ID)
	if err != nil {
		return nil, fmt.Errorf("recipient aws:%s: %w", s.ID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	c, err := p.client(ctx, k)
	if err != nil {
		return nil, err
	}
	out, err := c.kms.Decrypt(ctx, &kms.DecryptInput{
		KeyId:             aws.String(k.arn),
		CiphertextBlob:    s.Wrapped,
		EncryptionContext: awsEncryptionContext(scope),
	})
	if err != nil {
		return nil, p.explain(ctx, "decrypt", k, err)
	}
	if len(out.Plaintext) != crypto.DataKeySize {
		return nil, fmt.Errorf("%w: aws kms decrypt with %s returned %d bytes, not a %d-byte data key",
			crypto.ErrIntegrity, k, len(out.Plaintext), crypto.DataKeySize)
	}
	return out.Plaintext, nil
}

// client returns the KMS client for the key's region and role, creating it
// on first use, and checks that credentials can be had; only that check
// may contact anything (an SSO or STS endpoint, say).
func (p *awsProvider) client(ctx context.Context, k awsKey) (*awsClient, error) {
	c, err := p.cachedClient(ctx, k)
	if err != nil {
		return nil, err
	}
	if c.base == nil {
		return nil, hint.Wrap(errors.New("aws: no AWS credentials found"), hintAWSCredentials)
	}
	if _, err := c.base.Retrieve(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, p.timeoutError(ctx, "aws: looking up AWS credentials: ", err,
				hintAWSCredentials+"; outside AWS, AWS_EC2_METADATA_DISABLED=true stops the SDK from waiting for an instance-metadata service")
		}
		return nil, hint.Wrap(&providerError{msg: "aws: no usable AWS credentials: " + err.Error(), errs: []error{err}}, hintAWSCredentials)
	}
	if c.role != nil {
		if _, err := c.role.Retrieve(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, p.timeoutError(ctx, "aws: assuming role "+k.role+": ", err, awsNetworkHint("STS", k.region))
			}
			var sendFailed *smithyhttp.RequestSendError
			if errors.As(err, &sendFailed) {
				return nil, hint.Wrap(&providerError{msg: "aws: cannot reach AWS STS in " + k.region + " to assume role " + k.role + ": " + netShort(err), errs: []error{err}},
					awsNetworkHint("STS", k.region))
			}
			return nil, hint.Wrap(&providerError{msg: "aws: cannot assume role " + k.role + ": " + awsShort(err), errs: []error{err}},
				"the AWS identity in use needs sts:AssumeRole on "+k.role+", and the role's trust policy must allow it")
		}
	}
	return c, nil
}

func (p *awsProvider) cachedClient(ctx context.Context, k awsKey) (*awsClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ck := awsClientKey{region: k.region, role: k.role}
	if c := p.clients[ck]; c != nil {
		return c, nil
	}
	if p.base == nil {
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRetryer(awsRetryer))
		if err != nil {
			var noProfile config.SharedConfigProfileNotExistError
			if errors.As(err, &noProfile) {
				return nil, hint.Wrap(fmt.Errorf("aws: AWS profile %q not found in the AWS config files", noProfile.Profile),
					"AWS_PROFILE names a profile that is not in ~/.aws/config or ~/.aws/credentials; "+hintAWSProfile)
			}
			return nil, hint.Wrap(fmt.Errorf("aws: loading the AWS configuration: %w", err), hintAWSProfile)
		}
		p.base = &cfg
	}
	cfg := p.base.Copy()
	cfg.Region = k.region
	c := &awsClient{base: p.base.Credentials}
	if k.role != "" {
		c.role = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), k.role,
			func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "ksec" }))
		cfg.Credentials = c.role
	}
	// KMS replies are read through a bound, so a misbehaving endpoint (or
	// one an attacker points AWS_ENDPOINT_URL_KMS at) cannot fill memory.
	c.kms = kms.NewFromConfig(cfg, func(o *kms.Options) { o.HTTPClient = cappedHTTPClient{next: o.HTTPClient} })
	p.clients[ck] = c
	return c, nil
}

// awsRetryer keeps the SDK's retries of transient errors but caps the
// back-off, so an unreachable endpoint fails in seconds, not a minute.
func awsRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 3
		o.MaxBackoff = 2 * time.Second
	})
}

// explain turns a KMS error into one line that names the key and the
// operation, with a hint on what to do.
func (p *awsProvider) explain(ctx context.Context, op string, k awsKey, err error) error {
	prefix := fmt.Sprintf("aws kms %s with %s: ", op, k)
	wrap := func(msg string, hints ...string) error {
		return hint.Wrap(&providerError{msg: prefix + msg, errs: []error{err}}, hints...)
	}
	perm := "kms:Encrypt"
	if op == "decrypt" {
		perm = "kms:Decrypt"
	}
	var (
		notFound   *types.NotFoundException
		disabled   *types.DisabledException
		state      *types.KMSInvalidStateException
		invalid    *types.InvalidCiphertextException
		incorrect  *types.IncorrectKeyException
		usage      *types.InvalidKeyUsageException
		unavail    *types.KeyUnavailableException
		api        smithy.APIError
		sendFailed *smithyhttp.RequestSendError
	)
	switch {
	case errors.Is(err, errReplyTooLarge):
		return wrap(errReplyTooLarge.Error()+": ksec stopped reading it", awsNetworkHint("KMS", k.region))
	case ctx.Err() != nil:
		return p.timeoutError(ctx, prefix, err, awsNetworkHint("KMS", k.region))
	case errors.As(err, &invalid):
		return hint.Wrap(&providerError{
			msg:  fmt.Sprintf("%s: %sthe wrapped data key does not match the key or this Secret's namespace and name", crypto.ErrIntegrity, prefix),
			errs: []error{crypto.ErrIntegrity, err},
		}, hintAWSIntegrity)
	case errors.As(err, &notFound):
		return wrap("key not found: "+awsShort(err),
			fmt.Sprintf("check the ARN: ksec asks KMS in region %s (taken from the ARN) of the ARN's account; an alias must exist in that region", k.region))
	case errors.As(err, &disabled):
		return wrap("the key is disabled", "enable it (aws kms enable-key), or encrypt for another key")
	case errors.As(err, &state):
		return wrap("the key cannot be used now: "+awsShort(err), "a key pending deletion can be restored with aws kms cancel-key-deletion")
	case errors.As(err, &incorrect):
		return wrap("the wrapped data key was made with a different KMS key: "+awsShort(err),
			"if the alias now points to another KMS key, point it back to the original key, decrypt, and encrypt again")
	case errors.As(err, &usage):
		return wrap("the key cannot "+op+": "+awsShort(err), "use a symmetric KMS key with key usage ENCRYPT_DECRYPT")
	case errors.As(err, &unavail):
		return wrap("the key is unavailable: "+awsShort(err), "retry later")
	case errors.As(err, &api):
		switch api.ErrorCode() {
		case "AccessDeniedException":
			return wrap("access denied: "+awsShort(err),
				fmt.Sprintf("the AWS identity in use needs %s on %s (key policy or IAM policy), and the key must be enabled", perm, k.arn))
		case "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignature",
			"ExpiredTokenException", "InvalidClientTokenId", "MissingAuthenticationToken":
			return wrap("the AWS credentials were rejected: "+awsShort(err), hintAWSCredentials)
		}
		return wrap(awsShort(err))
	case errors.As(err, &sendFailed):
		return wrap("cannot reach AWS KMS in "+k.region+": "+netShort(err), awsNetworkHint("KMS", k.region))
	}
	return wrap(err.Error())
}

// timeoutError reports a call cut short by its context: by the caller
// (cancelled) or by the provider's timeout.
func (p *awsProvider) timeoutError(ctx context.Context, prefix string, err error, hints ...string) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("%s%w", prefix, ctx.Err())
	}
	return hint.Wrap(&providerError{msg: fmt.Sprintf("%sno answer within %v: %s", prefix, p.timeout, netShort(err)), errs: []error{context.DeadlineExceeded, err}},
		hints...)
}

// awsNetworkHint names the endpoint override in effect, if any, as that is
// the likeliest culprit when it is set.
func awsNetworkHint(service, region string) string {
	h := "check the network path to AWS " + service + " in " + region + " (proxy, VPN, firewall)"
	for _, env := range []string{"AWS_ENDPOINT_URL_" + service, "AWS_ENDPOINT_URL"} {
		if v := os.Getenv(env); v != "" {
			return h + "; " + env + " sets the endpoint to " + v
		}
	}
	return h
}

// awsShort is an API error's code and message without the SDK's operation
// and request-ID preamble.
func awsShort(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		if m := api.ErrorMessage(); m != "" {
			return api.ErrorCode() + ": " + m
		}
		return api.ErrorCode()
	}
	return err.Error()
}
