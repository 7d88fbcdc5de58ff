package tooltest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// All lists every tool of the repository: for each module under tools/, the
// packages its go.mod names in tool directives, or, when it names none, the
// module's own main package.
func All() ([]Tool, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	mods, err := filepath.Glob(filepath.Join(root, "tools", "*", "go.mod"))
	if err != nil {
		return nil, err
	}
	sort.Strings(mods)
	var tools []Tool
	for _, mod := range mods {
		b, err := os.ReadFile(mod)
		if err != nil {
			return nil, err
		}
		dir := filepath.Base(filepath.Dir(mod))
		pkgs := toolDirectives(b)
		if len(pkgs) == 0 {
			pkgs = []string{"."}
		}
		for _, p := range pkgs {
			tools = append(tools, Tool{Dir: dir, Package: p})
		}
	}
	if len(tools) == 0 {
		return nil, fmt.Errorf("no tools modules under %s", filepath.Join(root, "tools"))
	}
	return tools, nil
}

// toolDirectives reads the `tool` lines of a go.mod, in the single-line and
// the block form.
func toolDirectives(gomod []byte) []string {
	var pkgs []string
	inBlock := false
	for _, raw := range bytes.Split(gomod, []byte("\n")) {
		line := strings.TrimSpace(string(raw))
		if i := strings.Index(line, "//"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		switch {
		case inBlock && line == ")":
			inBlock = false
		case inBlock && line != "":
			pkgs = append(pkgs, line)
		case line == "tool (":
			inBlock = true
		case strings.HasPrefix(line, "tool "):
			pkgs = append(pkgs, strings.TrimSpace(strings.TrimPrefix(line, "tool ")))
		}
	}
	return pkgs
}
