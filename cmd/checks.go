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
		what := "a comment inside data/stringData is not encrypted and stays readable (line "
		if len(lines) > 1 {
			what = "comments inside data/stringData are not encrypted and stay readable (lines "
		}
		fmt.Fprintf(sys.Err, "ksec: warning: %s%s: %s%s)\n", filePrefix(file), s, what, strings.Join(nums, ", "))
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
