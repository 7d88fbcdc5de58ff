package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/ksec-dev/ksec/cmd"
	"github.com/ksec-dev/ksec/internal/gpgtest"
	"github.com/ksec-dev/ksec/internal/kubetest"
)

// The end-to-end tests run the real ksec binary (this test binary, re-executed
// as "ksec") from the scripts in testdata/script, with a real gpg.
func TestMain(m *testing.M) {
	raceQuickExit()
	testscript.Main(kubeMain{m}, map[string]func(){
		"ksec":   func() { os.Exit(cmd.Main("test")) },
		"ttyrun": ttyrunMain, // tty_script_test.go
		// kustomize before 5.7 runs its exec functions without arguments:
		// a link by this name makes ksec the generator.
		cmd.KustomizeName: func() { os.Exit(cmd.Main("test")) },
	})
}

// kubeMain runs the tests and then stops the API server that the tests
// against a real Kubernetes share (kubetest.Shared).
type kubeMain struct{ m *testing.M }

func (k kubeMain) Run() int { return kubetest.Main(k.m) }

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		Setup:               setupScript,
		Cmds:                scriptCommands,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
	})
}

// testKeys are made once per test run and imported into each script's
// own GnuPG home: alice (ECC) and bob (RSA) have their secret keys there,
// carol only her public key.
type testKeys struct {
	fpr    map[string]string
	public map[string][]byte
	secret map[string][]byte
}

var (
	keysOnce sync.Once
	keys     testKeys
	keysErr  error
)

func makeKeys() (testKeys, error) {
	home, cleanup, err := gpgtest.NewHomeE()
	if err != nil {
		return testKeys{}, err
	}
	defer cleanup()
	k := testKeys{fpr: map[string]string{}, public: map[string][]byte{}, secret: map[string][]byte{}}
	for name, kind := range map[string]string{"alice": gpgtest.ECC, "bob": gpgtest.RSA, "carol": gpgtest.ECC} {
		fpr, err := gpgtest.GenKeyE(home, kind, name+"@example.test")
		if err != nil {
			return k, err
		}
		k.fpr[name] = fpr
		if k.public[name], err = gpgtest.ExportPublicE(home, fpr); err != nil {
			return k, err
		}
		if k.secret[name], err = gpgtest.ExportSecretE(home, fpr); err != nil {
			return k, err
		}
	}
	return k, nil
}

func setupScript(env *testscript.Env) error {
	keysOnce.Do(func() { keys, keysErr = makeKeys() })
	if keysErr != nil {
		return keysErr
	}
	home, cleanup, err := gpgtest.NewHomeE()
	if err != nil {
		return err
	}
	env.Defer(cleanup)
	env.Setenv("GPGHOME", home) // to restore GNUPGHOME after a script changes it
	env.Values["kms"] = &scriptKMS{}
	for _, e := range gpgtest.Env(home) {
		k, v, _ := strings.Cut(e, "=")
		env.Setenv(k, v)
	}
	for name := range keys.fpr {
		env.Setenv(strings.ToUpper(name), keys.fpr[name])
		env.Setenv(strings.ToUpper(name)+"_KEYID", keys.fpr[name][24:]) // a long key ID, as kubesec files often name keys
		if err := os.WriteFile(filepath.Join(env.WorkDir, name+".pub.asc"), keys.public[name], 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(env.WorkDir, name+".sec.asc"), keys.secret[name], 0o600); err != nil {
			return err
		}
		imported := keys.secret[name]
		if name == "carol" {
			imported = keys.public[name]
		}
		if err := gpgtest.ImportE(home, imported); err != nil {
			return err
		}
	}
	// The directory testscript put the ksec command in, so a script can run
	// ksec with a PATH that lacks gpg.
	env.Setenv("KSECBIN", filepath.SplitList(env.Getenv("PATH"))[0])
	// age identities, made fresh per script: $WORK/NAME.agekey and $AGE_NAME.
	for _, name := range []string{"alice", "bob"} {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			return err
		}
		file := "# public key: " + id.Recipient().String() + "\n" + id.String() + "\n"
		if err := os.WriteFile(filepath.Join(env.WorkDir, name+".agekey"), []byte(file), 0o600); err != nil {
			return err
		}
		env.Setenv("AGE_"+strings.ToUpper(name), id.Recipient().String())
	}
	demo, err := filepath.Abs("testdata/keys")
	if err != nil {
		return err
	}
	env.Setenv("DEMO_KEYS", demo)
	examples, err := filepath.Abs("testdata/examples")
	if err != nil {
		return err
	}
	env.Setenv("EXAMPLES", examples)
	// Never let a developer's own settings leak into the scripts.
	for _, v := range []string{"KSEC_KEYS", "KSEC_IDENTITY_FILE"} {
		env.Setenv(v, "")
	}
	return nil
}

var scriptCommands = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"awskms":  cmdAWSKMS,
	"gcpkms":  cmdGCPKMS,
	"vault":   cmdVault,
	"kubesec": cmdKubesec,
	// sub FILE REGEXP REPLACEMENT: replace every match (at least one) in
	// FILE; \n in REPLACEMENT is a newline.
	"sub": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 3 {
			ts.Fatalf("usage: sub FILE REGEXP REPLACEMENT")
		}
		re := regexp.MustCompile(args[1])
		data := ts.ReadFile(args[0])
		if !re.MatchString(data) {
			ts.Fatalf("sub: %q does not match in %s", args[1], args[0])
		}
		out := re.ReplaceAllString(data, strings.ReplaceAll(args[2], `\n`, "\n"))
		ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(out), 0o644))
	},
	// backdate FILE: set FILE's modification time far into the past.
	"backdate": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 1 {
			ts.Fatalf("usage: backdate FILE")
		}
		ts.Check(os.Chtimes(ts.MkAbs(args[0]), backdated, backdated))
	},
	// backdated FILE: FILE still has the time backdate gave it (untouched).
	"backdated": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 {
			ts.Fatalf("usage: backdated FILE")
		}
		st, err := os.Stat(ts.MkAbs(args[0]))
		ts.Check(err)
		if same := st.ModTime().Equal(backdated); same == neg {
			ts.Fatalf("%s modification time is %v", args[0], st.ModTime())
		}
	},
	// mode FILE OCTAL: FILE's permission bits are OCTAL.
	"mode": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 2 {
			ts.Fatalf("usage: mode FILE OCTAL")
		}
		want, err := strconv.ParseUint(args[1], 8, 32)
		ts.Check(err)
		st, err := os.Stat(ts.MkAbs(args[0]))
		ts.Check(err)
		if got := st.Mode().Perm(); got != os.FileMode(want) {
			ts.Fatalf("%s has mode %#o, want %#o", args[0], got, want)
		}
	},
	// onlyfiles DIR NAME...: DIR holds exactly these entries (no temp files left).
	"onlyfiles": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) < 1 {
			ts.Fatalf("usage: onlyfiles DIR NAME...")
		}
		entries, err := os.ReadDir(ts.MkAbs(args[0]))
		ts.Check(err)
		var got []string
		for _, e := range entries {
			got = append(got, e.Name())
		}
		want := slices.Clone(args[1:])
		slices.Sort(want)
		if !slices.Equal(got, want) {
			ts.Fatalf("%s holds %v, want %v", args[0], got, want)
		}
	},
	// exits N COMMAND ARGS...: run COMMAND and require exit status N; its
	// output is then checked with stdout and stderr as usual.
	"exits": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) < 2 {
			ts.Fatalf("usage: exits N COMMAND ARGS...")
		}
		want, err := strconv.Atoi(args[0])
		ts.Check(err)
		err = ts.Exec(args[1], args[2:]...)
		got := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			got = exit.ExitCode()
		} else if err != nil {
			ts.Fatalf("%s: %v", args[1], err)
		}
		if got != want {
			ts.Fatalf("%s exited %d, want %d", args[1], got, want)
		}
	},
	// difflines OLD NEW REGEXP...: OLD and NEW have the same number of lines
	// and differ exactly in lines of NEW that match the REGEXPs, in order.
	"difflines": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) < 2 {
			ts.Fatalf("usage: difflines OLD NEW REGEXP...")
		}
		a := strings.Split(ts.ReadFile(args[0]), "\n")
		b := strings.Split(ts.ReadFile(args[1]), "\n")
		if len(a) != len(b) {
			ts.Fatalf("%s has %d lines, %s has %d", args[0], len(a), args[1], len(b))
		}
		var changed []string
		for i := range a {
			if a[i] != b[i] {
				changed = append(changed, b[i])
			}
		}
		want := args[2:]
		if len(changed) != len(want) {
			ts.Fatalf("%d lines differ, want %d: %q", len(changed), len(want), changed)
		}
		for i, line := range changed {
			if !regexp.MustCompile(want[i]).MatchString(line) {
				ts.Fatalf("changed line %q does not match %q", line, want[i])
			}
		}
	},
	// samematches REGEXP A B: the matches of REGEXP in A and in B are the same,
	// in order; with !, no match in A appears in B.
	"samematches": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 3 {
			ts.Fatalf("usage: samematches REGEXP A B")
		}
		re := regexp.MustCompile(args[0])
		a := re.FindAllString(ts.ReadFile(args[1]), -1)
		b := re.FindAllString(ts.ReadFile(args[2]), -1)
		if len(a) == 0 {
			ts.Fatalf("no match of %q in %s", args[0], args[1])
		}
		if !neg && !slices.Equal(a, b) {
			ts.Fatalf("matches differ:\n%s: %q\n%s: %q", args[1], a, args[2], b)
		}
		if neg {
			for _, m := range a {
				if slices.Contains(b, m) {
					ts.Fatalf("%q is in both %s and %s", m, args[1], args[2])
				}
			}
		}
	},
	// count N REGEXP FILE: FILE has exactly N matches of REGEXP.
	"count": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 3 {
			ts.Fatalf("usage: count N REGEXP FILE")
		}
		n, err := strconv.Atoi(args[0])
		ts.Check(err)
		got := len(regexp.MustCompile(args[1]).FindAllString(ts.ReadFile(args[2]), -1))
		if got != n {
			ts.Fatalf("%s: %d matches of %q, want %d", args[2], got, args[1], n)
		}
	},
}

var backdated = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
