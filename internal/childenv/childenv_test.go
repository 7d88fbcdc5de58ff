package childenv

import (
	"os"
	"slices"
	"testing"
)

func TestClean(t *testing.T) {
	env := []string{
		"PATH=/usr/bin",
		"KSEC_AGE_KEY=AGE-SECRET-KEY-1QQQ",
		"KSEC_AGE_KEY=",
		"KSEC_PASSPHRASE=correct horse",
		"PLUGIN_KEY=AGE-PLUGIN-YUBIKEY-1QQQ",
		"SOPS_AGE_KEY=# created\nAGE-SECRET-KEY-1ZZZ",
		"MY_KEY=age-secret-key-1abc",
		"KSEC_AGE_KEYS=not-a-key",
		"AWS_SECRET_ACCESS_KEY=aws",
		"GNUPGHOME=/tmp/g",
		"EDITOR=vi",
		"SSH_KEY=-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----",
		"PGP_KEY=-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQ\n",
		"RSA=-----BEGIN RSA PRIVATE KEY-----",
		"PUB=-----BEGIN PGP PUBLIC KEY BLOCK-----",
	}
	orig := slices.Clone(env)
	got := Clean(env)
	want := []string{"PATH=/usr/bin", "KSEC_AGE_KEYS=not-a-key", "AWS_SECRET_ACCESS_KEY=aws", "GNUPGHOME=/tmp/g", "EDITOR=vi", "PUB=-----BEGIN PGP PUBLIC KEY BLOCK-----"}
	if !slices.Equal(got, want) {
		t.Errorf("Clean:\n got %q\nwant %q", got, want)
	}
	if !slices.Equal(env, orig) {
		t.Errorf("Clean changed its input: %q", env)
	}
}

func TestEnviron(t *testing.T) {
	t.Setenv("KSEC_AGE_KEY", "AGE-SECRET-KEY-1QQQ")
	t.Setenv("KSEC_CHILDENV_TEST", "kept")
	got := Environ("EXTRA=1", "KSEC_AGE_KEY=AGE-SECRET-KEY-1RRR")
	if slices.ContainsFunc(got, func(e string) bool { return len(e) >= 13 && e[:13] == "KSEC_AGE_KEY=" }) {
		t.Errorf("KSEC_AGE_KEY passed on: %q", got)
	}
	for _, e := range []string{"KSEC_CHILDENV_TEST=kept", "EXTRA=1"} {
		if !slices.Contains(got, e) {
			t.Errorf("%s missing", e)
		}
	}
}

func TestScrubProcess(t *testing.T) {
	t.Setenv("KSEC_AGE_KEY", "AGE-SECRET-KEY-1QQQ")
	t.Setenv("KSEC_PASSPHRASE", "correct horse")
	t.Setenv("KSEC_SCRUB_OTHER", "age-secret-key-1abc")
	t.Setenv("KSEC_SCRUB_KEPT", "kept")
	ScrubProcess()
	for _, name := range []string{"KSEC_AGE_KEY", "KSEC_PASSPHRASE", "KSEC_SCRUB_OTHER"} {
		if v, ok := os.LookupEnv(name); ok {
			t.Errorf("%s still set: %q", name, v)
		}
	}
	if os.Getenv("KSEC_SCRUB_KEPT") != "kept" {
		t.Error("KSEC_SCRUB_KEPT removed")
	}
}
