//go:build gcpshow

package keyring_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/internal/kmstest"
	"github.com/ksec-dev/ksec/keyring"
)

func TestGCPShow(t *testing.T) {
	f := gcpFake(t)
	show := func(label string, err error) { t.Logf("%s:\n  error: %v\n  hints: %q", label, err, hint.All(err)) }
	p := keyring.NewGCP(keyring.GCPOptions{Endpoint: f.Addr})
	ctx := context.Background()
	_, err := p.ParseRecipient(ctx, gcpKeyA+"/cryptoKeyVersions/1")
	show("version", err)
	_, err = keyring.New([]keyring.Provider{p}, nil).ParseRecipient(ctx, "gcp:projects/x")
	show("bad", err)
	r, _ := p.ParseRecipient(ctx, "projects/ksec-test/locations/global/keyRings/ring/cryptoKeys/missing")
	_, err = r.Wrap(ctx, gcpDataKey(t), gcpScope)
	show("missing", err)
	f.SetGCPKeyDenied(gcpKeyA, true)
	r, _ = p.ParseRecipient(ctx, gcpKeyA)
	_, err = r.Wrap(ctx, gcpDataKey(t), gcpScope)
	show("denied", err)
	f.SetGCPKeyDenied(gcpKeyA, false)
	f.SetGCPKeyDisabled(gcpKeyA, true)
	_, err = r.Wrap(ctx, gcpDataKey(t), gcpScope)
	show("disabled", err)
	f.SetGCPKeyDisabled(gcpKeyA, false)
	s, _ := r.Wrap(ctx, gcpDataKey(t), gcpScope)
	_, err = keyring.New([]keyring.Provider{p}, nil).Unwrap(ctx, []keyring.Stanza{s}, keyring.Scope{Namespace: "x", Name: "y"})
	show("scope", err)
	f.SetGCPFault(kmstest.GCPFaultResponseCRC)
	_, err = r.Wrap(ctx, gcpDataKey(t), gcpScope)
	show("crc", err)
	f.SetGCPFault(kmstest.GCPFaultStall)
	p2 := keyring.NewGCP(keyring.GCPOptions{Endpoint: f.Addr, Timeout: 200 * time.Millisecond})
	r2, _ := p2.ParseRecipient(ctx, gcpKeyA)
	_, err = r2.Wrap(ctx, gcpDataKey(t), gcpScope)
	show("stall", err)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	p3 := keyring.NewGCP(keyring.GCPOptions{Endpoint: addr})
	r3, _ := p3.ParseRecipient(ctx, gcpKeyA)
	st := time.Now()
	_, err = r3.Wrap(ctx, gcpDataKey(t), gcpScope)
	show("refused "+time.Since(st).String(), err)
	p4 := keyring.NewGCP(keyring.GCPOptions{Endpoint: "0.0.0.0:1"})
	r4, _ := p4.ParseRecipient(ctx, gcpKeyA)
	_, err = r4.Wrap(ctx, gcpDataKey(t), gcpScope)
	show("noadc", err)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", gcpServiceAccountFile(t))
	f.SetGCPFault(kmstest.GCPFaultNone)
	p5 := keyring.NewGCP(keyring.GCPOptions{Endpoint: "0.0.0.0:" + gcpPort(t, f.Addr)})
	r5, _ := p5.ParseRecipient(ctx, gcpKeyA)
	_, err = r5.Wrap(ctx, gcpDataKey(t), gcpScope)
	show("tls", err)
}
