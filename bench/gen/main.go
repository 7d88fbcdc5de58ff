// Command gen writes plaintext Kubernetes Secrets for bench/run.sh: either
// N files of one Secret each (-dir) or one Secret (-o), each with -keys
// data values. The values are deterministic, so runs compare the same input.
package main

import (
	"bufio"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	n := fs.Int("n", 1, "number of Secrets (one file each with -dir)")
	keys := fs.Int("keys", 10, "data values per Secret")
	dir := fs.String("dir", "", "write secret-NNNNN.yaml files into this directory")
	out := fs.String("o", "", "write one Secret to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case (*dir == "") == (*out == ""):
		return fmt.Errorf("give exactly one of -dir and -o")
	case *out != "" && *n != 1:
		return fmt.Errorf("-o writes one Secret; use -dir for -n %d", *n)
	case *n < 1 || *keys < 1:
		return fmt.Errorf("-n and -keys must be positive")
	}
	if *out != "" {
		return writeFile(*out, 0, *keys)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	for i := range *n {
		if err := writeFile(filepath.Join(*dir, fmt.Sprintf("secret-%05d.yaml", i)), i, *keys); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, index, keys int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	writeSecret(w, index, keys)
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeSecret writes a Secret shaped like kubectl's output, with values of
// realistic length (a 24-character password, base64-encoded).
func writeSecret(w io.Writer, index, keys int) {
	fmt.Fprintf(w, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-%05d\n  namespace: bench\ntype: Opaque\ndata:\n", index)
	for k := range keys {
		value := fmt.Sprintf("pw-%05d-%05d-0123456789ab", index, k)
		fmt.Fprintf(w, "  key-%05d: %s\n", k, base64.StdEncoding.EncodeToString([]byte(value)))
	}
}
