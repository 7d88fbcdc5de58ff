package keyring

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
)

// maxReply bounds the body of a key service's reply. A KMS answer to
// encrypting or decrypting a 32-byte data key is well under 2 KiB; a
// reply past the bound is not read into memory.
const maxReply = 64 << 10

// errReplyTooLarge says a key service's reply was cut off at maxReply.
var errReplyTooLarge = fmt.Errorf("the reply is larger than %d KiB", maxReply>>10)

// httpDoer is the client interface of the AWS SDK (aws.HTTPClient).
type httpDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// cappedHTTPClient hands out response bodies that fail past maxReply bytes.
type cappedHTTPClient struct{ next httpDoer }

func (c cappedHTTPClient) Do(r *http.Request) (*http.Response, error) {
	resp, err := c.next.Do(r)
	if err == nil && resp.Body != nil {
		resp.Body = &cappedBody{rc: resp.Body, left: maxReply}
	}
	return resp, err
}

// cappedBody reads at most left bytes; one more is errReplyTooLarge, once:
// after that it reads as ended, so the SDK's draining of the rest neither
// reads it nor complains.
type cappedBody struct {
	rc   io.ReadCloser
	left int64
	cut  bool
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.cut {
		return 0, io.EOF
	}
	if b.left <= 0 {
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			b.cut = true
			return 0, errReplyTooLarge
		}
		if err == nil {
			err = io.EOF // a zero-byte read at the bound: treat as the end
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// providerError is a message written for the user over the errors it
// explains (an SDK's, the network's), which stay reachable with errors.Is
// and errors.As.
type providerError struct {
	msg  string
	errs []error
}

func (e *providerError) Error() string   { return e.msg }
func (e *providerError) Unwrap() []error { return e.errs }

// netShort is the part of a network error worth showing: the failed
// operation or lookup, without the request around it.
func netShort(err error) string {
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Error()
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
