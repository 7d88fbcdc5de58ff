package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/ksec-dev/ksec/internal/tooltest"
)

func init() {
	scriptCommands["ageplugin"] = cmdAgePlugin
	scriptCommands["setenvfile"] = cmdSetenvFile
	scriptCommands["agepass"] = cmdAgePass
}

// cmdAgePass encrypts IN with the passphrase PASS, as age -p does but at a
// low scrypt work factor: age -p's costs seconds per try on a busy machine.
//
//	agepass PASS IN OUT
func cmdAgePass(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: agepass PASS IN OUT")
	}
	r, err := age.NewScryptRecipient(args[0])
	ts.Check(err)
	r.SetWorkFactor(12)
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	ts.Check(err)
	_, err = w.Write([]byte(ts.ReadFile(args[1])))
	ts.Check(err)
	ts.Check(w.Close())
	ts.Check(os.WriteFile(ts.MkAbs(args[2]), buf.Bytes(), 0o600))
}

// cmdAgePlugin drives the real test plugin of tools/ageplugin:
//
//	ageplugin install             put it on $PATH as age-plugin-ksectest
//	ageplugin key NAME [FLAG...]  make $WORK/NAME.plugkey and $PLUG_NAME
//
// FLAGs are the plugin's -pin and -confirm: the identity asks for a PIN
// (1234) or a confirmation when it unwraps.
func cmdAgePlugin(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: ageplugin install | ageplugin key NAME [-pin] [-confirm]")
	}
	bin, err := tooltest.Binary(tooltest.Tool{Dir: "ageplugin", Package: "."})
	ts.Check(err)
	switch {
	case args[0] == "install" && len(args) == 1:
		dir := ts.MkAbs(".plugins")
		ts.Check(os.MkdirAll(dir, 0o755))
		ts.Check(os.Symlink(bin, filepath.Join(dir, "age-plugin-ksectest")))
		ts.Setenv("PATH", dir+string(os.PathListSeparator)+ts.Getenv("PATH"))
	case args[0] == "key" && len(args) >= 2:
		out, err := exec.Command(bin, append([]string{"-generate"}, args[2:]...)...).Output()
		ts.Check(err)
		pub, _, ok := strings.Cut(strings.TrimPrefix(string(out), "# public key: "), "\n")
		if !ok || !strings.HasPrefix(pub, "age1ksectest1") {
			ts.Fatalf("unexpected plugin output")
		}
		ts.Check(os.WriteFile(ts.MkAbs(args[1]+".plugkey"), out, 0o600))
		ts.Setenv("PLUG_"+strings.ToUpper(args[1]), pub)
	default:
		ts.Fatalf("usage: ageplugin install | ageplugin key NAME [-pin] [-confirm]")
	}
}

// cmdSetenvFile sets VAR to the content of FILE without its final newline
// (a public key line that a command wrote).
func cmdSetenvFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: setenvfile VAR FILE")
	}
	ts.Setenv(args[0], strings.TrimRight(ts.ReadFile(args[1]), "\n"))
}
