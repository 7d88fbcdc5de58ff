//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"filippo.io/age"
	"golang.org/x/sys/unix"

	"github.com/ksec-dev/ksec/cmd"
	"github.com/ksec-dev/ksec/internal/gpgtest"
	"github.com/ksec-dev/ksec/internal/race"
	"github.com/ksec-dev/ksec/manifest"
)

// These tests try to make ksec return a wrong secret, print a secret, or
// lose a file. The tamper matrix runs ksec in-process (cmd.Run) on every
// class of change to encrypted files; the other tests run the binary.

// inproc runs ksec commands in this process, with a private environment:
// age identities in files, the demo OpenPGP key files, a gpg home of its own
// holding only the demo public key (no secret key, so no agent is asked)
// and no default identity.
type inproc struct {
	t   *testing.T
	dir string
	env map[string]string
}

func newInproc(t *testing.T) *inproc {
	t.Helper()
	dir := t.TempDir()
	home := gpgtest.NewHome(t)
	for _, e := range gpgtest.Env(home) {
		k, v, _ := strings.Cut(e, "=")
		t.Setenv(k, v) // gpg runs with the process environment
	}
	// The demo public key, so rotate can wrap for the OpenPGP recipient;
	// no secret key is in this gpg.
	pub, err := os.ReadFile("testdata/keys/demo.pub.asc")
	must(t, err)
	gpgtest.Import(t, home, pub)
	tmp := filepath.Join(dir, "tmp")
	must(t, os.Mkdir(tmp, 0o700))
	t.Setenv("TMPDIR", tmp) // atomic writes may put temporary files there
	return &inproc{t: t, dir: dir, env: map[string]string{
		"HOME":            filepath.Join(dir, "home"),
		"XDG_CONFIG_HOME": filepath.Join(dir, "config"),
		"PATH":            os.Getenv("PATH"),
	}}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// run executes one ksec command line and returns its exit code and output.
func (p *inproc) run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	sys := &cmd.System{
		In: strings.NewReader(""), Out: &out, Err: &errb,
		Getenv:          func(k string) string { return p.env[k] },
		StdinIsTerminal: func() bool { return false },
	}
	code = cmd.Run(context.Background(), sys, "test", args)
	return code, out.String(), errb.String()
}

// file writes name in the test directory and returns its path.
func (p *inproc) file(name string, data []byte) string {
	path := filepath.Join(p.dir, name)
	must(p.t, os.WriteFile(path, data, 0o600))
	return path
}

// ageKey makes an age identity file and returns its path and recipient.
func (p *inproc) ageKey(name string) (file, recipient string) {
	id, err := age.GenerateX25519Identity()
	must(p.t, err)
	file = p.file(name+".agekey", []byte("# public key: "+id.Recipient().String()+"\n"+id.String()+"\n"))
	return file, id.Recipient().String()
}

// Secret values of the fixtures: every one is distinctive, so a leak of
// any of them (raw or base64) can be found in any output.
var secretValues = []string{
	"pw-one-Kq81xZ", "tok-one-Vb27Qp", "user-one-Mn42", "cfg-one-Zt93",
	"pw-two-Rj55Lw", "user-two-Hc18", "pw-list-a-Ue63", "pw-list-b-Wd71",
	"json-pw-Fy26Ta", "json-user-Gi39", "cert-marker-Xo57Nb",
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// longCert is a value long enough that its token is sampled, not flipped
// byte by byte.
var longCert = strings.Repeat("-----cert-body-", 100) + "cert-marker-Xo57Nb"

var tamperFixtures = map[string]string{
	"stream.yaml": `# Two Secrets and a ConfigMap.
apiVersion: v1
kind: Secret
metadata:
  name: one
  namespace: ns
type: Opaque
data:
  password: ` + b64("pw-one-Kq81xZ") + `
  token: ` + b64("tok-one-Vb27Qp") + `
  cert: ` + b64(longCert) + `
stringData:
  user: user-one-Mn42
  config: |
    key: cfg-one-Zt93
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
data:
  note: not secret
---
apiVersion: v1
kind: Secret
metadata:
  name: two
  namespace: ns
data:
  password: ` + b64("pw-two-Rj55Lw") + `
stringData:
  user: user-two-Hc18
`,
	"list.yaml": `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Secret
    metadata:
      name: a
      namespace: list
    data:
      password: ` + b64("pw-list-a-Ue63") + `
  - apiVersion: v1
    kind: Secret
    metadata:
      name: b
      namespace: list
    data:
      password: ` + b64("pw-list-b-Wd71") + `
`,
	"secret.json": `{
  "apiVersion": "v1",
  "kind": "Secret",
  "metadata": {
    "name": "j",
    "namespace": "json"
  },
  "data": {
    "password": "` + b64("json-pw-Fy26Ta") + `",
    "other": "` + b64("x") + `"
  },
  "stringData": {
    "user": "json-user-Gi39"
  }
}
`,
}

// leaked returns the first secret value (raw or base64) found in s.
func leaked(s string) string {
	for _, v := range secretValues {
		if strings.Contains(s, v) || strings.Contains(s, b64(v)) {
			return v
		}
	}
	return ""
}

var tokenRE = regexp.MustCompile(`ENC\[ksec\.v1,[A-Za-z0-9_-]+\]`)

const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// tamperCase is one changed encrypted file.
type tamperCase struct {
	class, name string
	data        []byte
	// badInput, when set, says why exit code 3 (bad input) is right: the
	// change made the file ambiguous or not a ksec file, and it is refused
	// before any decryption.
	badInput string
}

type tamperer struct {
	name  string // fixture file name
	src   string // the encrypted fixture
	st    *manifest.Stream
	cases []tamperCase
}

func (tm *tamperer) add(class, name, data string) {
	tm.cases = append(tm.cases, tamperCase{class: class, name: name, data: []byte(data)})
}

func (tm *tamperer) addBad(class, name, data, why string) {
	tm.cases = append(tm.cases, tamperCase{class: class, name: name, data: []byte(data), badInput: why})
}

// replaceOnce replaces the only occurrence of old, which must be there once.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("%q occurs %d times, want once", old, n)
	}
	return strings.Replace(s, old, new, 1)
}

// lines edits the fixture as lines (1-based numbers).
func lines(s string) []string { return strings.SplitAfter(s, "\n") }

func flipTokenBytes(tm *tamperer) {
	for _, tok := range tokenRE.FindAllString(tm.src, -1) {
		positions := make([]int, 0, len(tok))
		if len(tok) <= 200 {
			for i := range len(tok) {
				positions = append(positions, i)
			}
		} else {
			// Long token: its head and tail byte by byte, a sample between.
			for i := range 24 {
				positions = append(positions, i, len(tok)-1-i)
			}
			for i := 24; i < len(tok)-24; i += len(tok) / 64 {
				positions = append(positions, i)
			}
		}
		for _, i := range positions {
			b := []byte(tok)
			if j := strings.IndexByte(b64url, b[i]); j >= 0 && i >= len("ENC[ksec.v1,") && i < len(tok)-1 {
				b[i] = b64url[(j+1)%64]
			} else {
				b[i] ^= 1
			}
			tm.add("token byte changed", fmt.Sprintf("%s byte %d", tok[:20], i), strings.Replace(tm.src, tok, string(b), 1))
		}
	}
}

func (tm *tamperer) swapAndMove(t *testing.T) {
	st := tm.st
	for si, s := range st.Secrets {
		if s.Meta == nil {
			continue
		}
		for i, a := range s.Values {
			for j, b := range s.Values {
				if j <= i {
					continue
				}
				swapped := strings.NewReplacer(a.Text, b.Text, b.Text, a.Text).Replace(tm.src)
				class := "tokens swapped between keys"
				if a.Field != b.Field {
					class = "tokens moved between fields"
				}
				tm.add(class, a.String()+" <-> "+b.String(), swapped)
				// One token copied over the other (a duplicate value).
				tm.add("token copied to another key", a.String()+" -> "+b.String(), replaceOnce(t, tm.src, b.Text, a.Text))
			}
			// Moved to every other Secret: over each of its values.
			for ti, other := range st.Secrets {
				if ti == si || other.Meta == nil {
					continue
				}
				for _, b := range other.Values {
					tm.add("token moved between Secrets", fmt.Sprintf("%s of %s -> %s of %s", a, s, b, other), replaceOnce(t, tm.src, b.Text, a.Text))
				}
			}
		}
	}
}

// yamlCases are the structural changes, made on YAML fixtures' lines.
func (tm *tamperer) yamlCases(t *testing.T) {
	ls := lines(tm.src)
	join := func(ls []string) string { return strings.Join(ls, "") }
	for _, s := range tm.st.Secrets {
		if s.Meta == nil {
			continue
		}
		for _, v := range s.Values {
			n := v.Line - 1
			if !strings.Contains(ls[n], v.Text) {
				continue // a value on several lines: not in these fixtures
			}
			tm.add("key deleted", v.String(), join(slices.Delete(slices.Clone(ls), n, n+1)))
			tm.addBad("key duplicated", v.String(), join(slices.Insert(slices.Clone(ls), n, ls[n])),
				"a mapping with a repeated key is ambiguous (YAML parsers disagree on which wins): refused before decryption")
			renamed := strings.Replace(ls[n], v.Key+":", v.Key+"x:", 1)
			tm.add("key added", "copy of "+v.String()+" as "+v.Key+"x", join(slices.Insert(slices.Clone(ls), n+1, renamed)))
			tm.add("key renamed", v.String()+" as "+v.Key+"x", join(slices.Replace(slices.Clone(ls), n, n+1, renamed)))
			plain := strings.Replace(ls[n], v.Text, "cGxhaW4=", 1)
			tm.add("plaintext value put in", v.String(), join(slices.Replace(slices.Clone(ls), n, n+1, plain)))
			tm.add("plaintext key added", "after "+v.String(), join(slices.Insert(slices.Clone(ls), n+1, strings.Replace(renamed, v.Text, "cGxhaW4=", 1))))
		}
		tm.metadataCases(t, s, ls)
	}
	// Scope and identity of the first Secret.
	tm.add("scope changed", "name", replaceOnce(t, tm.src, "name: "+tm.st.Secrets[0].Name+"\n", "name: "+tm.st.Secrets[0].Name+"x\n"))
	tm.add("scope changed", "namespace", strings.Replace(tm.src, "namespace: "+tm.st.Secrets[0].Namespace+"\n", "namespace: other\n", 1))
	tm.add("scope changed", "namespace removed", regexp.MustCompile(`(?m)^ *namespace: `+tm.st.Secrets[0].Namespace+`\n`).ReplaceAllLiteralString(tm.src, ""))
	// Line breaks the YAML parser reads differently from ksec's splicing.
	for _, lb := range []struct{ name, text string }{{"lone CR", "\r"}, {"NEL", "\u0085"}, {"LS", "\u2028"}, {"PS", "\u2029"}} {
		tm.addBad("line break changed", lb.name, strings.Replace(tm.src, "metadata:\n", "metadata:"+lb.text, 1),
			"line breaks other than LF and CRLF are refused: ksec would splice values at other lines than the parser read them")
	}
}

// metadataCases changes s's ksec block: the block of a Secret is the first
// "ksec:" line after its last value, to the end of its indentation.
func (tm *tamperer) metadataCases(t *testing.T, s *manifest.Secret, ls []string) {
	join := func(ls []string) string { return strings.Join(ls, "") }
	last := s.Values[len(s.Values)-1].Line
	start := -1
	for i := last; i < len(ls); i++ {
		if strings.TrimSpace(ls[i]) == "ksec:" {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatalf("%s: no ksec block found", s)
	}
	indent := len(ls[start]) - len(strings.TrimLeft(ls[start], " "))
	end := start + 1
	for end < len(ls) && len(ls[end])-len(strings.TrimLeft(ls[end], " ")) > indent && strings.TrimSpace(ls[end]) != "" {
		end++
	}
	block := ls[start:end]
	var entries [][2]int // recipient entries: [first line, end) within ls
	mac, version := -1, -1
	for i := start; i < end; i++ {
		switch tl := strings.TrimSpace(ls[i]); {
		case strings.HasPrefix(tl, "- type:"):
			entries = append(entries, [2]int{i, i + 3})
		case strings.HasPrefix(tl, "mac:"):
			mac = i
		case strings.HasPrefix(tl, "version:"):
			version = i
		}
	}
	if len(entries) < 2 || mac < 0 || version < 0 {
		t.Fatalf("%s: unexpected ksec block:\n%s", s, join(block))
	}
	where := s.String()
	tm.add("metadata block removed", where, join(slices.Delete(slices.Clone(ls), start, end)))
	tm.addBad("MAC removed", where, join(slices.Delete(slices.Clone(ls), mac, mac+1)),
		"a ksec block without a MAC is not a valid ksec block: refused before decryption")
	macLine := ls[mac]
	macValue := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(macLine), "mac:"))
	raw, err := base64.StdEncoding.DecodeString(macValue)
	must(t, err)
	for i := range raw {
		b := slices.Clone(raw)
		b[i] ^= 0x80
		changed := strings.Replace(macLine, macValue, base64.StdEncoding.EncodeToString(b), 1)
		tm.add("MAC changed", fmt.Sprintf("%s byte %d", where, i), join(slices.Replace(slices.Clone(ls), mac, mac+1, changed)))
	}
	tm.add("MAC changed", where+" truncated", join(slices.Replace(slices.Clone(ls), mac, mac+1,
		strings.Replace(macLine, macValue, base64.StdEncoding.EncodeToString(raw[:16]), 1))))
	for _, v := range []string{"2", "0", "1.0", "'2'", "\"\"", "~"} {
		tm.addBad("version changed", where+" to "+v, join(slices.Replace(slices.Clone(ls), version, version+1,
			strings.Replace(ls[version], "version: 1", "version: "+v, 1))),
			"an unknown format version is refused before anything else (a newer ksec's file)")
	}
	tm.addBad("version changed", where+" removed", join(slices.Delete(slices.Clone(ls), version, version+1)),
		"a ksec block without a version is not a ksec block")
	for ei, e := range entries {
		entry := ls[e[0]:e[1]]
		id := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(entry[1]), "id:"))
		tm.add("recipient removed", where+" "+id, join(slices.Delete(slices.Clone(ls), e[0], e[1])))
		tm.add("recipient duplicated", where+" "+id, join(slices.Insert(slices.Clone(ls), e[1], entry...)))
		for li, field := range []string{"type", "id", "wrapped"} {
			l := entry[li]
			val := strings.TrimSpace(l[strings.Index(l, field+":")+len(field)+1:])
			for _, k := range []int{0, len(val) / 2, len(val) - 3} {
				b := []byte(val)
				switch {
				case field == "wrapped":
					// Keep it valid base64 of other bytes.
					raw, err := base64.StdEncoding.DecodeString(val)
					must(t, err)
					raw[k*len(raw)/max(len(val), 1)] ^= 1
					b = []byte(base64.StdEncoding.EncodeToString(raw))
				case b[k] >= 'a' && b[k] <= 'y', b[k] >= '0' && b[k] <= '8':
					b[k]++
				default:
					b[k] = 'a'
				}
				changed := strings.Replace(l, val, string(b), 1)
				tm.add("recipient altered", fmt.Sprintf("%s %s %s at %d", where, id, field, k),
					join(slices.Replace(slices.Clone(ls), e[0]+li, e[0]+li+1, changed)))
			}
		}
		if ei+1 < len(entries) {
			next := entries[ei+1]
			reordered := slices.Concat(ls[:e[0]], ls[next[0]:next[1]], ls[e[0]:e[1]], ls[next[1]:])
			tm.add("recipients reordered", where+" entries "+fmt.Sprint(ei, ei+1), join(reordered))
		}
	}
	tm.addBad("recipients removed", where+" all", join(slices.Delete(slices.Clone(ls), entries[0][0], entries[len(entries)-1][1])),
		"a ksec block with no recipients is not a valid ksec block")
}

// blockOf returns the text of the ksec block following s's values.
func blockOf(t *testing.T, src string, s *manifest.Secret) string {
	ls := lines(src)
	last := s.Values[len(s.Values)-1].Line
	for i := last; i < len(ls); i++ {
		if strings.TrimSpace(ls[i]) == "ksec:" {
			indent := len(ls[i]) - len(strings.TrimLeft(ls[i], " "))
			end := i + 1
			for end < len(ls) && len(ls[end])-len(strings.TrimLeft(ls[end], " ")) > indent {
				end++
			}
			return strings.Join(ls[i:end], "")
		}
	}
	t.Fatalf("%s: no ksec block", s)
	return ""
}

// crossSecretCases swaps whole ksec blocks and single recipient entries
// between the encrypted Secrets of a YAML fixture.
func (tm *tamperer) crossSecretCases(t *testing.T) {
	var enc []*manifest.Secret
	for _, s := range tm.st.Secrets {
		if s.Meta != nil {
			enc = append(enc, s)
		}
	}
	if len(enc) < 2 {
		return
	}
	a, b := blockOf(t, tm.src, enc[0]), blockOf(t, tm.src, enc[1])
	tm.add("metadata block moved between Secrets", "swapped", strings.NewReplacer(a, b, b, a).Replace(tm.src))
	tm.add("metadata block moved between Secrets", "copied", replaceOnce(t, tm.src, b, a))
	// The first recipient entry of the second Secret replaces the first's.
	entry := regexp.MustCompile(`(?m)^ *- type: .*\n *id: .*\n *wrapped: .*\n`)
	ea, eb := entry.FindString(a), entry.FindString(b)
	tm.add("recipient moved between Secrets", "entry 0", replaceOnce(t, tm.src, a, strings.Replace(a, ea, eb, 1)))
	tm.add("recipient moved between Secrets", "entry 0 added", replaceOnce(t, tm.src, a, strings.Replace(a, ea, ea+eb, 1)))
}

// jsonCases are the structural changes on a JSON fixture, kept valid JSON.
func (tm *tamperer) jsonCases(t *testing.T) {
	src := tm.src
	s := tm.st.Secrets[0]
	for _, v := range s.Values {
		line := regexp.MustCompile(`(?m)^ *"` + regexp.QuoteMeta(v.Key) + `": "` + regexp.QuoteMeta(v.Text) + `",?\n`).FindString(src)
		if line == "" {
			t.Fatalf("%s not found as a line", v)
		}
		deleted := strings.Replace(src, line, "", 1)
		if i := strings.Index(src, line); !strings.HasSuffix(strings.TrimSpace(line), ",") && !strings.HasSuffix(strings.TrimSpace(src[:i]), "{") {
			// The last of several entries: drop the comma before it too.
			j := strings.LastIndex(src[:i], ",")
			deleted = src[:j] + src[j+1:i] + src[i+len(line):]
		}
		tm.add("key deleted", v.String(), deleted)
		added := strings.Replace(line, `"`+v.Key+`"`, `"`+v.Key+`x"`, 1)
		if !strings.HasSuffix(strings.TrimSpace(added), ",") {
			added = strings.TrimRight(added, "\n") + ",\n"
		}
		tm.add("key added", "copy of "+v.String(), strings.Replace(src, line, added+line, 1))
		tm.add("plaintext value put in", v.String(), replaceOnce(t, src, `"`+v.Text+`"`, `"cGxhaW4="`))
	}
	meta := regexp.MustCompile(`"mac": "([^"]+)"`).FindStringSubmatch(src)
	raw, err := base64.StdEncoding.DecodeString(meta[1])
	must(t, err)
	raw[0] ^= 1
	tm.add("MAC changed", "byte 0", replaceOnce(t, src, meta[1], base64.StdEncoding.EncodeToString(raw)))
	tm.addBad("MAC removed", "mac field", regexp.MustCompile(`,\s*"mac": "[^"]+"`).ReplaceAllString(src, ""),
		"a ksec block without a MAC is not a valid ksec block: refused before decryption")
	tm.addBad("version changed", "to 2", replaceOnce(t, src, `"version": 1`, `"version": 2`),
		"an unknown format version is refused before anything else (a newer ksec's file)")
	recipient := regexp.MustCompile(`\{\s*"type": "[^"]*",\s*"id": "[^"]*",\s*"wrapped": "[^"]*"\s*\}`)
	rs := recipient.FindAllString(src, -1)
	if len(rs) < 2 {
		t.Fatalf("JSON fixture: %d recipients found", len(rs))
	}
	tm.add("recipients reordered", "0 and 1", strings.NewReplacer(rs[0], rs[1], rs[1], rs[0]).Replace(src))
	tm.add("recipient removed", "0", replaceOnce(t, src, rs[0]+",", ""))
	tm.add("recipient duplicated", "0", replaceOnce(t, src, rs[0], rs[0]+","+rs[0]))
	// The block is the first member of an object that spans lines, the
	// last of one on a single line.
	if m := regexp.MustCompile(`\n( *)"ksec": \{\n`).FindStringSubmatchIndex(src); m != nil {
		end := strings.Index(src[m[1]:], "\n"+src[m[2]:m[3]]+"},")
		if end < 0 {
			t.Fatal("JSON fixture: the ksec block has no end")
		}
		end += m[1] + 1 + m[3] - m[2] + 2
		tm.add("metadata block removed", "ksec", src[:m[0]]+src[end:])
	} else {
		block := regexp.MustCompile(`(?s),\s*"ksec": \{.*\}\s*\}\s*$`).FindString(src)
		if block == "" {
			t.Fatal("JSON fixture: no ksec block found")
		}
		tm.add("metadata block removed", "ksec", strings.Replace(src, block, "\n}\n", 1))
	}
	tm.add("scope changed", "name", replaceOnce(t, src, `"name": "j"`, `"name": "k"`))
}

// rollbackCases: a value patched with ksec patch, then its old token (and
// other parts of the old version) put back into the new file.
func (tm *tamperer) rollbackCases(t *testing.T, p *inproc, identity string) {
	old := tm.src
	file := p.file("rollback-"+tm.name, []byte(old))
	s := tm.st.Secrets[0]
	v := s.Values[0]
	args := []string{"patch", "-i", "-I", identity, "--secret", s.Namespace + "/" + s.Name, "--set", v.Key + "=rolled-forward", file}
	if v.Field == "stringData" {
		args = append(args, "--string-data")
	}
	if code, _, stderr := p.run(args...); code != 0 {
		t.Fatalf("ksec %v: exit %d: %s", args, code, stderr)
	}
	data, err := os.ReadFile(file)
	must(t, err)
	cur := string(data)
	next, err := manifest.Parse(data)
	must(t, err)
	nv := next.Secrets[0].Values[0]
	if nv.Text == v.Text {
		t.Fatalf("patch did not change %s", v)
	}
	tm.add("value rolled back", v.String()+" old token", replaceOnce(t, cur, nv.Text, v.Text))
	// The first Secret's MAC is the first in the file, in both versions.
	macRE := regexp.MustCompile(`(?m)^ *"?mac"?: "?[A-Za-z0-9+/=]+"?`)
	oldMAC, newMAC := macRE.FindString(old), macRE.FindString(cur)
	tm.add("value rolled back", v.String()+" old MAC", replaceOnce(t, cur, newMAC, oldMAC))
	// Old token with a plaintext value added by hand: ksec encrypt seals
	// the added value, and must not bless the rolled-back one.
	withPlain := replaceOnce(t, cur, nv.Text, v.Text)
	keyLine := regexp.MustCompile(`(?m)^( *)"?` + regexp.QuoteMeta(v.Key) + `"?: "?` + regexp.QuoteMeta(v.Text) + `.*\n`).FindStringSubmatch(withPlain)
	added := keyLine[1] + "added: YWRkZWQ=\n"
	if strings.HasSuffix(tm.name, ".json") {
		added = keyLine[1] + `"added": "YWRkZWQ=",` + "\n"
	}
	tm.add("value rolled back", v.String()+" old token, plaintext key added", strings.Replace(withPlain, keyLine[0], added+keyLine[0], 1))
}

// TestTamperMatrix changes encrypted files in every way an attacker with
// write access to the repository could, and requires every change to be
// refused: exit code 5 (integrity) or 4 (no key could decrypt), or 3 (bad
// input) where the change made the file ambiguous or not a ksec file at
// all; nothing on standard output; no secret value in any output; an
// in-place target byte for byte as it was, and no file left beside it or
// in TMPDIR. Each case is decrypted to stdout and in place with the age
// identity, and with the OpenPGP key file.
func TestTamperMatrix(t *testing.T) {
	tamperMatrix(t, func(id, _, target string) [][]string {
		return [][]string{
			{"decrypt", "-I", id, target},
			{"decrypt", "-i", "-I", id, target},
			{"decrypt", "-I", "testdata/keys/demo.sec.asc", target},
		}
	})
}

// TestTamperMatrixReencrypt runs ksec encrypt -i (adding a recipient) and
// ksec rotate -i on every tampered file: they must verify every value they
// keep and the MAC over them, so that re-encrypting never blesses a
// change. The one exception is by design: a value added by hand in
// plaintext is sealed.
func TestTamperMatrixReencrypt(t *testing.T) {
	tamperMatrix(t, func(id, newRecipient, target string) [][]string {
		return [][]string{
			{"encrypt", "-i", "-I", id, "-k", "+age:" + newRecipient, target},
			{"rotate", "-i", "-I", id, target},
		}
	})
}

func tamperMatrix(t *testing.T, commands func(identity, newRecipient, target string) [][]string) {
	p := newInproc(t)
	alice, aliceR := p.ageKey("alice")
	_, bobR := p.ageKey("bob")
	_, carolR := p.ageKey("carol")
	demoPub, err := filepath.Abs("testdata/keys/demo.pub.asc")
	must(t, err)
	demoSec, err := filepath.Abs("testdata/keys/demo.sec.asc")
	must(t, err)

	counts := map[string]map[int]int{}
	var classes []string
	total := 0
	for _, name := range []string{"stream.yaml", "list.yaml", "secret.json"} {
		plain := tamperFixtures[name]
		in := p.file("plain-"+name, []byte(plain))
		code, enc, stderr := p.run("encrypt", "-k", "age:"+aliceR, "-k", "pgp:"+demoPub, "-k", "age:"+bobR, in)
		if code != 0 {
			t.Fatalf("encrypt %s: exit %d: %s", name, code, stderr)
		}
		for _, id := range []string{alice, demoSec} {
			if code, out, stderr := p.run("decrypt", "-I", id, p.file("enc-"+name, []byte(enc))); code != 0 || out != plain {
				t.Fatalf("the untouched %s does not decrypt with %s: exit %d: %s", name, id, code, stderr)
			}
		}
		for _, run := range commands(alice, carolR, p.file("control-"+name, []byte(enc))) {
			if code, _, stderr := p.run(run...); code != 0 {
				t.Fatalf("ksec %s on the untouched %s: exit %d: %s", run[0], name, code, stderr)
			}
		}
		st, err := manifest.Parse([]byte(enc))
		must(t, err)
		tm := &tamperer{name: name, src: enc, st: st}
		flipTokenBytes(tm)
		tm.swapAndMove(t)
		if strings.HasSuffix(name, ".json") {
			tm.jsonCases(t)
		} else {
			tm.yamlCases(t)
			tm.crossSecretCases(t)
		}
		tm.rollbackCases(t, p, alice)

		target := filepath.Join(p.dir, "case-"+name)
		sample := raceSample{}
		for ci, c := range tm.cases {
			if !sample.keep(ci, c.class) {
				continue
			}
			if bytes.Equal(c.data, []byte(enc)) {
				t.Fatalf("%s: %s %s: the change changed nothing", name, c.class, c.name)
			}
			for i, run := range commands(alice, carolR, target) {
				must(t, os.WriteFile(target, c.data, 0o600))
				before := dirEntries(t, p.dir, filepath.Join(p.dir, "tmp"))
				code, stdout, stderr := p.run(run...)
				what := fmt.Sprintf("%s: %s: %s: ksec %s", name, c.class, c.name, strings.Join(run[:len(run)-1], " "))
				if run[0] != "decrypt" && code == 0 && c.class == "plaintext key added" {
					// By design: a value added by hand in plaintext (visible
					// in the diff) is sealed by the next encrypt.
					continue
				}
				checkRefused(t, what, c, code, stdout, stderr)
				if got, err := os.ReadFile(target); err != nil || !bytes.Equal(got, c.data) {
					t.Fatalf("%s: the target file changed (%v)", what, err)
				}
				if after := dirEntries(t, p.dir, filepath.Join(p.dir, "tmp")); !slices.Equal(before, after) {
					t.Fatalf("%s: files changed beside the target: %v -> %v", what, before, after)
				}
				if i == 0 {
					if counts[c.class] == nil {
						counts[c.class] = map[int]int{}
						classes = append(classes, c.class)
					}
					counts[c.class][code]++
					total++
				}
			}
		}
	}
	slices.Sort(classes)
	for _, c := range classes {
		t.Logf("%-38s %4d cases: exit 5 ×%d, exit 4 ×%d, exit 3 ×%d", c, counts[c][5]+counts[c][4]+counts[c][3], counts[c][5], counts[c][4], counts[c][3])
	}
	t.Logf("%d tampered files (exit codes counted for the first command of each case)", total)
	if race.Enabled {
		t.Logf("race detector: a sample (the first case of each class per file, and every %dth)", raceEvery)
	}
}

// checkRefused requires a refusal with a clean error and no secret.
func checkRefused(t *testing.T, what string, c tamperCase, code int, stdout, stderr string) {
	t.Helper()
	switch {
	case code == 3 && c.badInput != "":
	case code == 3 && strings.Contains(stderr, "is not supported"):
		// An unsupported format version (a changed token prefix).
	case code == 3 && strings.Contains(stderr, "no encrypted Secret to rotate"):
		// The change left no Secret with a ksec block: nothing to rotate.
	case code == 3 && strings.Contains(stderr, "not valid base64"):
		// A token changed into something that is no token (encrypt takes
		// it for plaintext) and not base64 either: not a valid data value.
	case code == 3:
		if _, err := manifest.Parse(c.data); err == nil {
			t.Fatalf("%s: exit 3 (bad input) for a file that parses: %s", what, stderr)
		}
	case c.badInput != "":
		t.Fatalf("%s: exit %d, want 3 (%s): %s", what, code, c.badInput, stderr)
	case code != 4 && code != 5:
		t.Fatalf("%s: exit %d, want 4 or 5: stdout %q stderr %q", what, code, stdout, stderr)
	}
	if stdout != "" {
		t.Fatalf("%s: printed on stdout: %q", what, stdout)
	}
	if !strings.HasPrefix(stderr, "ksec: error: ") || strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
		t.Fatalf("%s: stderr is not a clean ksec error: %q", what, stderr)
	}
	if v := leaked(stderr); v != "" {
		t.Fatalf("%s: stderr holds the secret %q: %s", what, v, stderr)
	}
}

// dirEntries lists the names in dirs, to spot stray files.
func dirEntries(t *testing.T, dirs ...string) []string {
	var names []string
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		must(t, err)
		for _, e := range entries {
			names = append(names, filepath.Join(d, e.Name()))
		}
	}
	return names
}

// binary runs the ksec binary (this test binary, which TestMain installs
// as ksec on PATH) with a private environment, so that real signals, exit
// statuses and memory use can be observed.
type binary struct {
	t   *testing.T
	dir string
	env []string
}

func newBinary(t *testing.T) *binary {
	t.Helper()
	dir := t.TempDir()
	home := gpgtest.NewHome(t)
	for _, d := range []string{"home", "config", "runtime", "tmp"} {
		must(t, os.Mkdir(filepath.Join(dir, d), 0o700))
	}
	env := append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + filepath.Join(dir, "home"),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"XDG_RUNTIME_DIR=" + filepath.Join(dir, "runtime"),
		"TMPDIR=" + filepath.Join(dir, "tmp"),
		"AWS_EC2_METADATA_DISABLED=true",
		"GORACE=" + os.Getenv("GORACE"), // see raceQuickExit
	}, gpgtest.Env(home)...)
	return &binary{t: t, dir: dir, env: env}
}

// result is what one run of the binary did.
type result struct {
	code           int
	stdout, stderr string
	maxRSS         int64 // bytes
}

// hangGuard bounds every run: a hang fails the test instead of the suite.
// It is not a performance limit.
const hangGuard = 60 * time.Second

func (b *binary) run(stdin io.Reader, extraEnv []string, args ...string) result {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), raceStretch(hangGuard))
	defer cancel()
	c := exec.CommandContext(ctx, "ksec", args...)
	c.Dir = b.dir
	c.Env = append(slices.Clone(b.env), extraEnv...)
	c.Stdin = stdin
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	if ctx.Err() != nil {
		b.t.Fatalf("ksec %s: still running after %v", strings.Join(args, " "), raceStretch(hangGuard))
	}
	r := result{stdout: out.String(), stderr: errb.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		b.t.Fatalf("ksec %s: %v", strings.Join(args, " "), err)
	}
	if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.maxRSS = int64(ru.Maxrss) * 1024
	}
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") {
		b.t.Fatalf("ksec %s: crashed:\n%s", strings.Join(args, " "), r.stderr)
	}
	return r
}

func (b *binary) file(name string, data []byte) string {
	path := filepath.Join(b.dir, name)
	must(b.t, os.WriteFile(path, data, 0o600))
	return path
}

func (b *binary) ageKey(name string) (file, recipient string) {
	id, err := age.GenerateX25519Identity()
	must(b.t, err)
	file = b.file(name+".agekey", []byte("# public key: "+id.Recipient().String()+"\n"+id.String()+"\n"))
	return file, id.Recipient().String()
}

// roundTrip encrypts input for recipient and decrypts it with identity; the
// result must be the input, byte for byte.
func (b *binary) roundTrip(identity, recipient string, input []byte) (encrypted []byte) {
	b.t.Helper()
	in := b.file("in.yaml", input)
	enc := filepath.Join(b.dir, "enc.yaml")
	if r := b.run(nil, nil, "encrypt", "-k", recipient, "-o", enc, in); r.code != 0 {
		b.t.Fatalf("encrypt: exit %d: %s", r.code, r.stderr)
	}
	r := b.run(nil, nil, "decrypt", "-I", identity, enc)
	if r.code != 0 {
		b.t.Fatalf("decrypt: exit %d: %s", r.code, r.stderr)
	}
	if r.stdout != string(input) {
		b.t.Fatalf("decrypt(encrypt(x)) != x:\n%q\nwant\n%q", truncate(r.stdout), truncate(string(input)))
	}
	data, err := os.ReadFile(enc)
	must(b.t, err)
	return data
}

func truncate(s string) string {
	if len(s) > 600 {
		return s[:300] + "…" + s[len(s)-300:]
	}
	return s
}

// refused runs ksec on input (as FILE) and requires a clean one-line error
// with the exit code and a message matching re.
func (b *binary) refused(input []byte, code int, re string, args ...string) result {
	b.t.Helper()
	r := b.run(nil, nil, append(args, b.file("in.yaml", input))...)
	checkCleanError(b.t, r, code, re)
	return r
}

func checkCleanError(t *testing.T, r result, code int, re string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d: %s", r.code, code, r.stderr)
	}
	if r.stdout != "" {
		t.Fatalf("printed on stdout: %q", truncate(r.stdout))
	}
	first, _, _ := strings.Cut(r.stderr, "\n")
	if !regexp.MustCompile(`^ksec: error: ` + re).MatchString(first) {
		t.Fatalf("error %q does not match %q", first, re)
	}
}

const hostileSecret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: ns\n"

// TestHostileInput feeds ksec odd and hostile manifests. Each gets a clean
// "ksec: error:" line (no panic, no Go trace) or a correct result, within
// the hang guard.
func TestHostileInput(t *testing.T) {
	b := newBinary(t)
	id, rcpt := b.ageKey("alice")
	encrypt := []string{"encrypt", "-k", rcpt}
	decrypt := []string{"decrypt", "-I", id}
	cases := []struct {
		name string
		run  func(t *testing.T, b *binary)
	}{
		{"empty input", func(t *testing.T, b *binary) {
			b.refused(nil, 3, `bad input: no Secret found`, encrypt...)
			r := b.run(strings.NewReader(""), nil, append(decrypt, "-")...)
			if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "ksec: warning: no encrypted Secret") {
				t.Fatalf("decrypt of empty input: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
		}},
		{"only comments", func(t *testing.T, b *binary) {
			in := "# nothing here\n# at all\n"
			b.refused([]byte(in), 3, `bad input: no Secret found`, encrypt...)
			r := b.run(strings.NewReader(in), nil, append(decrypt, "-")...)
			if r.code != 0 || r.stdout != in {
				t.Fatalf("decrypt passes comments through: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
		}},
		{"200 MB on standard input", func(t *testing.T, b *binary) {
			// Streamed, never held by the test: ksec must stop reading at its limit.
			pr, pw := io.Pipe()
			go func() {
				chunk := bytes.Repeat([]byte("# filler line of a huge stream.......\n"), 1<<10)
				for n := 0; n < 200<<20; n += len(chunk) {
					if _, err := pw.Write(chunk); err != nil {
						return // ksec stopped reading: expected
					}
				}
				pw.Close()
			}()
			r := b.run(pr, nil, append(encrypt, "-")...)
			pr.Close()
			checkCleanError(t, r, 3, `bad input: standard input is larger than 16 MiB`)
			if !strings.Contains(r.stderr, "ksec: hint: ") {
				t.Fatalf("no hint: %s", r.stderr)
			}
			if !race.Enabled && r.maxRSS > 256<<20 {
				t.Fatalf("ksec used %d MiB of memory to refuse it", r.maxRSS>>20)
			}
			t.Logf("refused after reading its limit; peak memory %d MiB", r.maxRSS>>20)
		}},
		{"200 MB file", func(t *testing.T, b *binary) {
			path := filepath.Join(b.dir, "huge.yaml")
			f, err := os.Create(path)
			must(t, err)
			must(t, f.Truncate(200<<20)) // sparse: no disk used
			must(t, f.Close())
			for _, args := range [][]string{encrypt, decrypt, {"inspect"}} {
				r := b.run(nil, nil, append(slices.Clone(args), path)...)
				if args[0] == "inspect" {
					// inspect reports each file on stdout, errors on stderr.
					if r.code != 3 || !strings.Contains(r.stderr, "huge.yaml is larger than 16 MiB") {
						t.Fatalf("inspect: exit %d: %s", r.code, r.stderr)
					}
				} else {
					checkCleanError(t, r, 3, `.*huge\.yaml is larger than 16 MiB`)
				}
				if !race.Enabled && r.maxRSS > 128<<20 {
					t.Fatalf("ksec %s used %d MiB of memory to refuse it", args[0], r.maxRSS>>20)
				}
			}
		}},
		{"YAML alias bomb beside a Secret", func(t *testing.T, b *binary) {
			bomb := "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\ndata:\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
			prev := "a"
			for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
				bomb += "  " + n + ": &" + n + " [*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + "]\n"
				prev = n
			}
			b.roundTrip(id, rcpt, []byte(hostileSecret+"stringData:\n  k: v\n"+bomb))
		}},
		{"YAML alias bomb inside a Secret's metadata", func(t *testing.T, b *binary) {
			in := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  annotations:\n    x: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
			prev := "a"
			for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
				in += "    " + n + ": &" + n + " [*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + "]\n"
				prev = n
			}
			in += "stringData:\n  k: v\n"
			// Anchors are refused in a Secret before anything decodes them.
			b.refused([]byte(in), 3, `document 1 \(Secret s\): line 6: bad input: a YAML anchor \(&a\) is not supported in a Secret`, encrypt...)
		}},
		{"deeply nested flow document", func(t *testing.T, b *binary) {
			in := hostileSecret + "stringData:\n  k: v\n---\nx: " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + "\n"
			b.refused([]byte(in), 3, `document 2: bad input: invalid YAML: .*depth`, encrypt...)
		}},
		{"deeply nested block document", func(t *testing.T, b *binary) {
			var sb strings.Builder
			sb.WriteString(hostileSecret + "stringData:\n  k: v\n---\n")
			for i := range 2000 {
				sb.WriteString(strings.Repeat(" ", i) + "a:\n")
			}
			r := b.run(nil, nil, append(slices.Clone(encrypt), b.file("in.yaml", []byte(sb.String())))...)
			if r.code != 0 {
				checkCleanError(t, r, 3, `document 2: bad input: invalid YAML`)
			}
			t.Logf("exit %d %s", r.code, strings.SplitN(r.stderr, "\n", 2)[0])
		}},
		{"anchor and alias inside a Secret", func(t *testing.T, b *binary) {
			b.refused([]byte(hostileSecret+"stringData:\n  a: &x value\n  b: *x\n"), 3, `document 1 \(Secret ns/s\): line 7: bad input: a YAML anchor \(&x\) is not supported in a Secret`, encrypt...)
			b.refused([]byte(hostileSecret+"metadata2: &m {k: v}\nstringData: *m\n"), 3, `document 1 \(Secret ns/s\): line 6: bad input: a YAML anchor \(&m\) is not supported in a Secret`, encrypt...)
		}},
		{"non-UTF-8 bytes", func(t *testing.T, b *binary) {
			b.refused([]byte(hostileSecret+"stringData:\n  a: caf\xe9\n"), 3, `document 1: bad input: invalid YAML: .*UTF-8`, encrypt...)
		}},
		{"UTF-16 input", func(t *testing.T, b *binary) {
			b.refused([]byte("\xff\xfea\x00:\x00 \x00b\x00\n\x00"), 3, `bad input: the input is UTF-16; ksec reads UTF-8 only`, encrypt...)
		}},
		{"NUL byte", func(t *testing.T, b *binary) {
			b.refused([]byte(hostileSecret+"stringData:\n  a: x\x00y\n"), 3, `document 1: bad input: invalid YAML: control characters are not allowed`, encrypt...)
		}},
		{"UTF-8 BOM, YAML", func(t *testing.T, b *binary) {
			b.roundTrip(id, rcpt, []byte("\xef\xbb\xbf"+hostileSecret+"data:\n  a: YQ==\n"))
		}},
		{"UTF-8 BOM, one-line JSON", func(t *testing.T, b *binary) {
			b.roundTrip(id, rcpt, []byte("\xef\xbb\xbf{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\"},\"data\":{\"a\":\"QUFBQQ==\",\"b\":\"QkJCQg==\"}}\n"))
		}},
		{"CRLF line endings", func(t *testing.T, b *binary) {
			in := strings.ReplaceAll(hostileSecret+"# comment\ndata:\n  a: YQ==\nstringData:\n  b: |\n    line 1\n    line 2\n  c: \"q\"\n", "\n", "\r\n")
			enc := b.roundTrip(id, rcpt, []byte(in))
			if n := bytes.Count(enc, []byte("\n")); n != bytes.Count(enc, []byte("\r\n")) {
				t.Fatalf("the encrypted file mixes line endings:\n%q", enc)
			}
		}},
		{"lone CR line endings", func(t *testing.T, b *binary) {
			b.refused([]byte(strings.ReplaceAll(hostileSecret+"data:\n  a: YQ==\n", "\n", "\r")), 3, `line 1: bad input: a line break other than LF or CRLF`, encrypt...)
		}},
		{"tabs", func(t *testing.T, b *binary) {
			b.roundTrip(id, rcpt, []byte(hostileSecret+"stringData:\n  a: \"tab\\there\"\n  b: 'x\ty'\n  c:\tv\t# tab before comment\n"))
			b.refused([]byte(hostileSecret+"stringData:\n\ta: v\n"), 3, `document 1: bad input: invalid YAML: line 7: found character that cannot start any token`, encrypt...)
		}},
		{"duplicate keys", func(t *testing.T, b *binary) {
			b.refused([]byte(hostileSecret+"data:\n  a: YQ==\n  a: Yg==\n"), 3, `document 1 \(Secret ns/s\): bad input: line 8: duplicate key "a"`, encrypt...)
			b.refused([]byte(hostileSecret+"data:\n  a: YQ==\ndata:\n  b: Yg==\n"), 3, `.*duplicate key "data"`, encrypt...)
			b.refused([]byte(`{"kind":"Secret","metadata":{"name":"s"},"data":{"a":"YQ==","a":"Yg=="}}`), 3, `.*duplicate key "a"`, encrypt...)
		}},
		{"data: null", func(t *testing.T, b *binary) {
			b.roundTrip(id, rcpt, []byte(hostileSecret+"data: null\nstringData:\n  a: x\n"))
			b.roundTrip(id, rcpt, []byte(hostileSecret+"data:\n"))
		}},
		{"same key in data and stringData", func(t *testing.T, b *binary) {
			// Kubernetes would drop the data value: refused (trust_yaml_shadow.txtar).
			b.refused([]byte(hostileSecret+"data:\n  a: YQ==\nstringData:\n  a: b\n"), 3, `document 1 \(Secret ns/s\): bad input: the key "a" is under both data \(line 7\) and stringData \(line 9\)`, encrypt...)
		}},
		{"invalid base64", func(t *testing.T, b *binary) {
			b.refused([]byte(hostileSecret+"data:\n  a: not base64!\n"), 3, `document 1 \(Secret ns/s\): data\.a \(line 7\): bad input: not valid base64`, encrypt...)
		}},
		{"unknown format version", func(t *testing.T, b *binary) {
			enc := b.roundTrip(id, rcpt, []byte(hostileSecret+"data:\n  a: YQ==\n"))
			r := b.refused(bytes.Replace(enc, []byte("version: 1"), []byte("version: 7"), 1), 3, `document 1 \(Secret ns/s\): line \d+: format version 7 is not supported \(this ksec reads version 1\)`, decrypt...)
			if !strings.Contains(r.stderr, "ksec: hint: the file was written by a newer ksec: upgrade ksec to read it") {
				t.Fatalf("no upgrade hint: %s", r.stderr)
			}
			b.refused(bytes.Replace(enc, []byte("ENC[ksec.v1,"), []byte("ENC[ksec.v9,"), 1), 3, `.*data\.a \(line 7\): format version 9 is not supported`, decrypt...)
		}},
		{"2,000 age recipients", func(t *testing.T, b *binary) {
			args := []string{"encrypt"}
			var last string
			for i := range 2000 {
				file, r := b.ageKey(fmt.Sprintf("r%d", i))
				if i == 1999 {
					last = file
				} else {
					must(t, os.Remove(file))
				}
				args = append(args, "-k", r)
			}
			in := b.file("in.yaml", []byte(hostileSecret+"data:\n  a: YQ==\n"))
			enc := filepath.Join(b.dir, "many.yaml")
			if r := b.run(nil, nil, append(args, "-o", enc, in)...); r.code != 0 {
				t.Fatalf("encrypt: exit %d: %s", r.code, r.stderr)
			}
			// The last recipient's key: every other stanza is tried first.
			r := b.run(nil, nil, "decrypt", "-I", last, enc)
			if r.code != 0 || r.stdout != hostileSecret+"data:\n  a: YQ==\n" {
				t.Fatalf("decrypt: exit %d: %s", r.code, r.stderr)
			}
			r = b.run(nil, nil, "decrypt", "-I", id, enc)
			checkCleanError(t, r, 4, `document 1 \(Secret ns/s\): no key could decrypt: none of your keys is a recipient; recipients: age:age1`)
			if len(r.stderr) > 200<<10 {
				t.Logf("note: the no-key error lists every recipient: %d KiB", len(r.stderr)>>10)
			}
		}},
		{"a Secret with 100,000 keys", func(t *testing.T, b *binary) {
			var sb strings.Builder
			sb.WriteString(hostileSecret + "data:\n")
			for i := range 100000 {
				fmt.Fprintf(&sb, "  key-%06d: %s\n", i, b64(fmt.Sprint(i)))
			}
			enc := b.roundTrip(id, rcpt, []byte(sb.String()))
			t.Logf("encrypted size %d MiB", len(enc)>>20)
		}},
		{"2,000 Secrets in one stream", func(t *testing.T, b *binary) {
			var sb strings.Builder
			for i := range 2000 {
				fmt.Fprintf(&sb, "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s%d\nstringData:\n  k: v%d\n", i, i)
			}
			b.roundTrip(id, rcpt, []byte(sb.String()))
		}},
		{"100,000 empty documents", func(t *testing.T, b *binary) {
			in := hostileSecret + "stringData:\n  k: v\n" + strings.Repeat("---\n", 100000)
			b.roundTrip(id, rcpt, []byte(in))
		}},
		{"a Secret nested deeper than 255 columns", func(t *testing.T, b *binary) {
			pad := strings.Repeat(" ", 300)
			in := "apiVersion: v1\nkind: List\nitems:\n" + pad + "- apiVersion: v1\n" + pad + "  kind: Secret\n" + pad + "  metadata:\n" + pad + "    name: deep\n" +
				pad + "  stringData:\n" + pad + "    a: >\n" + pad + "      folded\n" + pad + "      text\n" + pad + "    b: plain\n"
			r := b.run(nil, nil, append(slices.Clone(encrypt), "-o", filepath.Join(b.dir, "deep.yaml"), b.file("in.yaml", []byte(in)))...)
			if r.code != 0 {
				checkCleanError(t, r, 3, `.*cannot rewrite`)
				t.Logf("refused: %s", strings.SplitN(r.stderr, "\n", 2)[0])
				return
			}
			if r := b.run(nil, nil, append(slices.Clone(decrypt), filepath.Join(b.dir, "deep.yaml"))...); r.code != 0 || r.stdout != in {
				t.Fatalf("decrypt: exit %d, round trip %v: %s", r.code, r.stdout == in, r.stderr)
			}
		}},
		{"a 1 MiB value (the API server's limit)", func(t *testing.T, b *binary) {
			b.roundTrip(id, rcpt, []byte(hostileSecret+"data:\n  big: "+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xA5}, 1<<20))+"\n"))
		}},
		{"a 10 MiB value", func(t *testing.T, b *binary) {
			// More than a Secret may hold: refused before anything is sealed.
			in := b.file("in.yaml", []byte(hostileSecret+"data:\n  big: "+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xA5}, 10<<20*3/4))+"\n"))
			r := b.run(nil, nil, append(slices.Clone(encrypt), "-o", filepath.Join(b.dir, "big.yaml"), in)...)
			checkCleanError(t, r, 3, `.*bad input: the Secret's values hold 7864320 bytes in all: the API server refuses more than 1048576 bytes \(1 MiB\)`)
			if _, err := os.Stat(filepath.Join(b.dir, "big.yaml")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("big.yaml: %v", err)
			}
		}},
		{"a result larger than the input limit", func(t *testing.T, b *binary) {
			// 2.5 MiB of tiny values: their tokens would make over 16 MiB.
			var sb strings.Builder
			sb.WriteString(hostileSecret + "stringData:\n")
			for i := 0; sb.Len() < 5<<19; i++ {
				fmt.Fprintf(&sb, "  k%07d: v\n", i)
			}
			r := b.run(nil, nil, append(slices.Clone(encrypt), "-o", filepath.Join(b.dir, "big.yaml"), b.file("in.yaml", []byte(sb.String())))...)
			checkCleanError(t, r, 3, `bad input: the result would be \d+ MiB, more than the 16 MiB ksec reads; nothing was written`)
			if _, err := os.Stat(filepath.Join(b.dir, "big.yaml")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a file was written: %v", err)
			}
		}},
	}
	names := map[string]bool{}
	for _, c := range cases {
		names[c.name] = true
	}
	for name := range bigUnderRace {
		if !names[name] {
			t.Fatalf("bigUnderRace names %q, which is no case", name)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if race.Enabled && bigUnderRace[c.name] {
				t.Skip("race detector: a size case, run by the ordinary go test")
			}
			b := &binary{t: t, dir: t.TempDir(), env: b.env}
			c.run(t, b)
		})
	}
}

// TestKillDuringInPlaceWrite SIGKILLs ksec encrypt -i and decrypt -i at
// random moments while they rewrite a file of a few MB. After every kill
// the file is either exactly what it was or the complete result; ksec's
// temporary files may be left behind by SIGKILL (nothing can remove them),
// but only next to the target and named after it, never in TMPDIR.
func TestKillDuringInPlaceWrite(t *testing.T) {
	b := newBinary(t)
	id, rcpt := b.ageKey("alice")
	work := filepath.Join(b.dir, "work")
	tmp := filepath.Join(b.dir, "tmp")
	must(t, os.Mkdir(work, 0o700))
	keys, kills := 12000, 30
	if race.Enabled {
		keys, kills = 3000, 6 // fewer, shorter runs of the slower race build
	}
	var sb strings.Builder
	sb.WriteString(hostileSecret + "stringData:\n")
	for i := range keys {
		fmt.Fprintf(&sb, "  key-%05d: value %05d pw-one-Kq81xZ padding padding\n", i, i)
	}
	plain := sb.String()
	target := filepath.Join(work, "big.yaml")
	must(t, os.WriteFile(target, []byte(plain), 0o644))

	// One undisturbed run each way, to know how long a run takes.
	timed := func(args ...string) time.Duration {
		start := time.Now()
		if r := b.run(nil, nil, args...); r.code != 0 {
			t.Fatalf("ksec %v: exit %d: %s", args, r.code, r.stderr)
		}
		return time.Since(start)
	}
	encArgs := []string{"encrypt", "-i", "-k", rcpt, target}
	decArgs := []string{"decrypt", "-i", "-I", id, target}
	durations := map[string]time.Duration{"encrypt": timed(encArgs...), "decrypt": timed(decArgs...)}
	if got, _ := os.ReadFile(target); string(got) != plain {
		t.Fatal("the undisturbed round trip changed the file")
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	outcome := map[string]int{}
	strays := map[string]int{}
	for i := range kills {
		old, err := os.ReadFile(target)
		must(t, err)
		args, op := encArgs, "encrypt"
		if string(old) != plain {
			args, op = decArgs, "decrypt"
		}
		c := exec.Command("ksec", args...)
		c.Env = b.env
		must(t, c.Start())
		// Half the kills anywhere in the run, half near its end, where
		// the file is written.
		d := int64(durations[op])
		at := rng.Int64N(d * 11 / 10)
		if i%2 == 1 {
			at = d*8/10 + rng.Int64N(d*3/10)
		}
		time.Sleep(time.Duration(at))
		_ = c.Process.Signal(syscall.SIGKILL)
		_ = c.Wait()

		now, err := os.ReadFile(target)
		must(t, err)
		switch {
		case bytes.Equal(now, old):
			outcome[op+": old file"]++
		case op == "decrypt" && string(now) == plain:
			outcome[op+": new file"]++
		case op == "encrypt":
			// The complete result: it decrypts back to the plaintext.
			r := b.run(nil, nil, "decrypt", "-I", id, target)
			if r.code != 0 || r.stdout != plain {
				t.Fatalf("kill %d during encrypt left a file that does not decrypt (exit %d): %s", i, r.code, r.stderr)
			}
			outcome[op+": new file"]++
		default:
			t.Fatalf("kill %d during %s left a file that is neither the old nor the new one (%d bytes)", i, op, len(now))
		}
		for dir, where := range map[string]string{work: "beside the target", tmp: "in TMPDIR"} {
			entries, err := os.ReadDir(dir)
			must(t, err)
			for _, e := range entries {
				if filepath.Join(dir, e.Name()) == target {
					continue
				}
				strays[where]++
				data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
				info, _ := e.Info()
				if strings.Contains(string(data), "pw-one-Kq81xZ") {
					strays[where+", holding plaintext"]++
				}
				if where != "beside the target" {
					t.Errorf("kill %d during %s left %s %s (mode %v, %d bytes, plaintext: %v)", i, op, where, e.Name(), info.Mode().Perm(), len(data), strings.Contains(string(data), "pw-one-Kq81xZ"))
				} else if !regexp.MustCompile(`^\.big\.yaml\.ksec-tmp-[a-z0-9]{6}$`).MatchString(e.Name()) {
					t.Errorf("kill %d during %s left %s, not named after the target", i, op, e.Name())
				}
				must(t, os.Remove(filepath.Join(dir, e.Name())))
			}
		}
	}
	t.Logf("outcomes after SIGKILL: %v; stray temporary files: %v (runs take %v)", outcome, strays, durations)
}

// TestInPlaceWriteTemporaryFiles watches, with inotify, where ksec creates
// files while it rewrites a target in place: only beside the target (same
// directory, so the rename is atomic and the file is as private as the
// target's directory), named after it, and gone afterwards. Never in
// TMPDIR, which other users may share: decrypt -i writes plaintext there.
func TestInPlaceWriteTemporaryFiles(t *testing.T) {
	b := newBinary(t)
	id, rcpt := b.ageKey("alice")
	work := filepath.Join(b.dir, "work")
	tmp := filepath.Join(b.dir, "tmp")
	must(t, os.Mkdir(work, 0o700))
	target := filepath.Join(work, "s.yaml")
	must(t, os.WriteFile(target, []byte(hostileSecret+"stringData:\n  a: pw-one-Kq81xZ\n"), 0o644))

	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	must(t, err)
	defer unix.Close(fd)
	watched := map[int32]string{}
	for _, d := range []string{work, tmp} {
		wd, err := unix.InotifyAddWatch(fd, d, unix.IN_CREATE|unix.IN_MOVED_TO)
		must(t, err)
		watched[int32(wd)] = d
	}
	for _, args := range [][]string{
		{"encrypt", "-i", "-k", rcpt, target},
		{"decrypt", "-i", "-I", id, target},
		{"encrypt", "-o", filepath.Join(work, "out.yaml"), "-k", rcpt, target},
	} {
		if r := b.run(nil, nil, args...); r.code != 0 {
			t.Fatalf("ksec %v: exit %d: %s", args, r.code, r.stderr)
		}
		buf := make([]byte, 64<<10)
		n, err := unix.Read(fd, buf)
		if err != nil && !errors.Is(err, unix.EAGAIN) {
			t.Fatal(err)
		}
		var created []string
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
			off += unix.SizeofInotifyEvent + int(ev.Len)
			created = append(created, filepath.Join(watched[ev.Wd], name))
		}
		base := filepath.Base(args[len(args)-1])
		if args[1] == "-o" {
			base = "out.yaml"
		}
		for _, f := range created {
			switch {
			case filepath.Dir(f) == tmp:
				t.Errorf("ksec %s created %s in TMPDIR", strings.Join(args[:2], " "), filepath.Base(f))
			case filepath.Base(f) == base:
				// the rename onto the target
			case !regexp.MustCompile(`^\.` + regexp.QuoteMeta(base) + `\.ksec-tmp-[a-z0-9]{6}$`).MatchString(filepath.Base(f)):
				t.Errorf("ksec %s created %s, not named after the target", strings.Join(args[:2], " "), f)
			default:
				if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("ksec %s left %s behind", strings.Join(args[:2], " "), f)
				}
			}
		}
		t.Logf("ksec %s created: %v", strings.Join(args[:2], " "), created)
	}
}
