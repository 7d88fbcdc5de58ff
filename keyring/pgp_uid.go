package keyring

import (
	"context"
	"strconv"
	"strings"
)

// PGPUserID returns the user ID that the local gpg public keyring holds for
// the key with fingerprint fpr (the first one that is not revoked), such as
// "Alice <alice@example.com>". It is for display only: when gpg is not
// installed, does not know the key, or fpr is not a fingerprint, it returns
// "" and no error, so that looking at a file never needs gpg. Only a
// cancelled or expired ctx is an error.
func PGPUserID(ctx context.Context, opts PGPOptions, fpr string) (string, error) {
	if !IsFingerprint(fpr) {
		// Never pass anything but a fingerprint to gpg: an ID from a file
		// could otherwise be read as an option.
		return "", nil
	}
	bin := opts.GPG
	if bin == "" {
		bin = "gpg"
	}
	g := gpgRunner{bin: bin, env: opts.Env}
	res, err := g.run(ctx, nil, nil, "--batch", "--with-colons", "--list-keys", "0x"+normalizeFingerprint(fpr))
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if err != nil {
		// gpg missing, no keyring, an unknown key ("No public key"): the
		// user ID is only ever a convenience.
		return "", nil
	}
	return firstUserID(string(res.stdout)), nil
}

// firstUserID picks the user ID from gpg --with-colons output: field 10 of
// the first "uid" record whose validity (field 2) is not "r" (revoked),
// else of the first "uid" record.
func firstUserID(colons string) string {
	first := ""
	for _, line := range strings.Split(colons, "\n") {
		f := strings.Split(strings.TrimRight(line, "\r"), ":")
		if len(f) < 10 || f[0] != "uid" {
			continue
		}
		uid := unescapeColons(f[9])
		if f[1] != "r" {
			return uid
		}
		if first == "" {
			first = uid
		}
	}
	return first
}

// unescapeColons undoes gpg's C-style escaping of colon-listing fields:
// every byte that could be mistaken for a delimiter (":" above all) or is
// not printable is written as \xNN.
func unescapeColons(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && s[i+1] == 'x' {
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
