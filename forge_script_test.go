package main

import (
	"context"
	"os"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/ksec-dev/ksec/internal/forge"
	"github.com/ksec-dev/ksec/keyring"
)

func init() {
	scriptCommands["forge"] = cmdForge
}

// cmdForge writes an authentic encrypted Secret from $AGE_ALICE's PUBLIC
// key only, as anyone could, with hostile payloads:
//
//	forge FILE NAMESPACE/NAME FIELD.KEY=FORM:STYLE:PAYLOAD...
//
// FORM and STYLE are the payload's form and style bytes (docs/FORMAT.md);
// PAYLOAD is read with Go string escapes (\n, \x02), so a verbatim (form 3)
// payload starts with its indent byte: \x02 for the forged keys' column.
func cmdForge(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: forge FILE NAMESPACE/NAME FIELD.KEY=FORM:STYLE:PAYLOAD...")
	}
	ns, name, ok := strings.Cut(args[1], "/")
	if !ok {
		ts.Fatalf("forge: want NAMESPACE/NAME, got %q", args[1])
	}
	var values []forge.Value
	for _, spec := range args[2:] {
		place, rest, ok1 := strings.Cut(spec, "=")
		field, key, ok2 := strings.Cut(place, ".")
		parts := strings.SplitN(rest, ":", 3)
		if !ok1 || !ok2 || len(parts) != 3 {
			ts.Fatalf("forge: bad value %q", spec)
		}
		form, err1 := strconv.ParseUint(parts[0], 10, 8)
		style, err2 := strconv.ParseUint(parts[1], 10, 8)
		payload, err3 := strconv.Unquote(`"` + strings.ReplaceAll(parts[2], `"`, `\"`) + `"`)
		if err1 != nil || err2 != nil || err3 != nil {
			ts.Fatalf("forge: bad value %q", spec)
		}
		values = append(values, forge.Value{Field: field, Key: key, Form: byte(form), Style: byte(style), Payload: []byte(payload)})
	}
	r, err := keyring.NewAge().ParseRecipient(context.Background(), ts.Getenv("AGE_ALICE"))
	ts.Check(err)
	out, err := forge.SecretE([]keyring.Recipient{r}, ns, name, values)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), out, 0o644))
}
