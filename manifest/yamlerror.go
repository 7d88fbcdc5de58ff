package manifest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// parserProblems are the messages go.yaml.in/yaml/v3 gives for errors of
// its parser (as opposed to its scanner). For these it prints the mark's
// 0-based line, one less than the 1-based lines it uses everywhere else,
// and no line at all when the mark is on the first line.
var parserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found undefined tag handle",
	"found duplicate %YAML directive",
	"found duplicate %TAG directive",
	"found incompatible YAML document",
}

// yamlErrorText drops the library's "yaml: " prefix and mends the line
// numbers of parser errors (see parserProblems), so every message names the
// 1-based line of the file.
// An error at the end of the input is put on its last line, not on the
// empty line after the final newline.
func yamlErrorText(err error, src []byte) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	rest := msg
	if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
		_, rest, _ = strings.Cut(msg, ": ")
	}
	if slices.Contains(parserProblems, rest) {
		line++
	} else if line == 0 {
		return msg
	}
	last := bytes.Count(src, []byte("\n"))
	if len(src) > 0 && src[len(src)-1] != '\n' {
		last++
	}
	return fmt.Sprintf("line %d: %s", max(min(line, last), 1), rest)
}

// yamlErrorLine returns the line an invalid-YAML message names, or 0.
func yamlErrorLine(msg string) int {
	_, after, ok := strings.Cut(msg, "invalid YAML: line ")
	if !ok {
		return 0
	}
	line := 0
	fmt.Sscanf(after, "%d", &line)
	return line
}
