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

// textMerge says how git merge-file runs.
type textMerge struct {
	labels [3]string // ours, base, theirs
	// style is the conflict style forced on git ("merge", "diff3"), or ""
	// for the user's own (merge.conflictStyle), as git's merge would use.
	style      string
	markerSize int
}

// mergeText is a three-way line merge: git's own, so that everything the
// driver does not merge per key merges exactly as git would merge it.
type mergeText func(ctx context.Context, ours, base, theirs []byte, how textMerge) ([]byte, int, error)

// gitMergeFile runs git merge-file on three temporary files. They never
// hold plaintext: the driver merges projections (placeholders instead of
// tokens) and token-only files. It returns the merged text and the number
// of conflicts git reports.
func gitMergeFile(git string) mergeText {
	return func(ctx context.Context, ours, base, theirs []byte, how textMerge) ([]byte, int, error) {
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
		if how.style != "" {
			args = append(args, "-c", "merge.conflictStyle="+how.style)
		}
		args = append(args, "merge-file", "-p", "--marker-size="+strconv.Itoa(how.markerSize))
		for _, l := range how.labels {
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

// A segment of a diff3-style merge: lines both sides agree on, or a
// conflict with each side's lines and the base's.
type segment struct {
	common   []string
	conflict bool
	sides    [3][]string // base, ours, theirs (lines with their line breaks)
}

// splitLines splits text after each line break, keeping them.
func splitLines(text []byte) []string {
	var out []string
	for len(text) > 0 {
		i := bytes.IndexByte(text, '\n')
		if i < 0 {
			out = append(out, string(text))
			break
		}
		out = append(out, string(text[:i+1]))
		text = text[i+1:]
	}
	return out
}

// markerLines are the conflict marker lines of a diff3-style merge with
// the given labels and size, without line breaks.
func markerLines(how textMerge) (start, mid, sep, end string) {
	return strings.Repeat("<", how.markerSize) + " " + how.labels[0],
		strings.Repeat("|", how.markerSize) + " " + how.labels[1],
		strings.Repeat("=", how.markerSize),
		strings.Repeat(">", how.markerSize) + " " + how.labels[2]
}

// parseDiff3 reads git merge-file's diff3-style output back into segments.
func parseDiff3(text []byte, how textMerge) ([]segment, error) {
	start, mid, sep, end := markerLines(how)
	var segs []segment
	cur := &segment{}
	state := -1 // -1 outside a conflict, else the side being read
	for _, line := range splitLines(text) {
		bare := strings.TrimRight(line, "\r\n")
		switch {
		case bare == start && state == -1:
			segs = append(segs, *cur)
			cur = &segment{conflict: true}
			state = ours
		case bare == mid && state == ours:
			state = base
		case bare == sep && state == base:
			state = theirs
		case bare == end && state == theirs:
			segs = append(segs, *cur)
			cur = &segment{}
			state = -1
		case state == -1:
			cur.common = append(cur.common, line)
		default:
			cur.sides[state] = append(cur.sides[state], line)
		}
	}
	if state != -1 {
		return nil, errors.New("git merge-file left an unfinished conflict")
	}
	return append(segs, *cur), nil
}

// hasMarkerLine reports whether text has a line that starts like one of
// the markers: the projections are refused then, so the merged text
// cannot be misread.
func hasMarkerLine(text []byte, how textMerge) bool {
	for _, line := range splitLines(text) {
		for _, c := range []string{"<", "|", "=", ">"} {
			if strings.HasPrefix(line, strings.Repeat(c, how.markerSize)) {
				return true
			}
		}
	}
	return false
}
