package mergedriver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// resolve says how git merge-file settles conflicting lines.
type resolve string

const (
	markers    resolve = ""         // leave conflict markers
	takeOurs   resolve = "--ours"   // our side of every conflict
	takeTheirs resolve = "--theirs" // their side of every conflict
)

// mergeText is a three-way line merge: git's own, so that everything the
// driver does not merge per key merges exactly as git would merge it.
type mergeText func(ctx context.Context, ours, base, theirs []byte, how resolve, labels [3]string, forceStyle bool) ([]byte, int, error)

// gitMergeFile runs git merge-file on three temporary files. They never
// hold plaintext: the driver merges projections (placeholders instead of
// tokens) and token-only files. It returns the merged text and the number
// of conflicts git reports.
func gitMergeFile(git string, markerSize int) mergeText {
	return func(ctx context.Context, ours, base, theirs []byte, how resolve, labels [3]string, forceStyle bool) ([]byte, int, error) {
		dir, err := os.MkdirTemp("", "ksec-merge-")
		if err != nil {
			return nil, 0, err
		}
		defer os.RemoveAll(dir)
		names := [3]string{filepath.Join(dir, "ours"), filepath.Join(dir, "base"), filepath.Join(dir, "theirs")}
		for i, data := range [][]byte{ours, base, theirs} {
			if err := os.WriteFile(names[i], data, 0o600); err != nil {
				return nil, 0, err
			}
		}
		var args []string
		if forceStyle {
			// The token-only conflict file has an empty base: a diff3
			// style would show an empty base section under every conflict.
			args = append(args, "-c", "merge.conflictStyle=merge")
		}
		args = append(args, "merge-file", "-p", "--marker-size="+strconv.Itoa(markerSize))
		if how != markers {
			args = append(args, string(how))
		}
		for _, l := range labels {
			args = append(args, "-L", l)
		}
		args = append(args, names[0], names[1], names[2])
		c := exec.CommandContext(ctx, git, args...)
		var out, errOut bytes.Buffer
		c.Stdout, c.Stderr = &out, &errOut
		err = c.Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return out.Bytes(), 0, nil
		case errors.As(err, &exit) && exit.ExitCode() > 0 && exit.ExitCode() <= 127:
			// git merge-file exits with the number of conflicts.
			return out.Bytes(), exit.ExitCode(), nil
		}
		return nil, 0, fmt.Errorf("git merge-file: %w: %s", err, strings.TrimSpace(errOut.String()))
	}
}
