package cmd

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ksec-dev/ksec/manifest"
)

// warnComments says which comments inside data and stringData encrypting
// leaves readable: people comment out old values there. file prefixes
// the warnings when a command works on many files.
func warnComments(sys *System, file string, st *manifest.Stream) {
	for _, s := range st.Secrets {
		lines := st.CommentLines(s)
		if len(lines) == 0 {
			continue
		}
		nums := make([]string, len(lines))
		for i, l := range lines {
			nums[i] = strconv.Itoa(l)
		}
		fmt.Fprintf(sys.Err, "ksec: warning: %s%s: %s inside data/stringData %s not encrypted and stay readable (%s %s)\n",
			filePrefix(file), s, plural(len(lines), "a comment", "comments"), plural(len(lines), "is", "are"),
			plural(len(lines), "line", "lines"), strings.Join(nums, ", "))
	}
}

// warnShadows names the keys an encrypted Secret sets under both data and
// stringData: the decrypted Secret loses the data value in Kubernetes.
func warnShadows(sys *System, file string, st *manifest.Stream) {
	for _, s := range st.Secrets {
		if s.Meta == nil {
			continue
		}
		for _, sh := range s.Shadows() {
			fmt.Fprintf(sys.Err, "ksec: warning: %s%s: %s; Kubernetes keeps only the stringData value\n", filePrefix(file), s, sh.Problem())
		}
	}
}

func filePrefix(file string) string {
	if file == "" {
		return ""
	}
	return file + ": "
}
