package check

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteText prints one line per problem, "FILE:LINE: SECRET: MESSAGE";
// verbose adds a line for every file that passed.
func (r *Report) WriteText(w io.Writer, verbose bool) error {
	var b strings.Builder
	for _, f := range r.Files {
		name := printable(f.File)
		if f.OK {
			if verbose {
				note := "ok"
				if f.Note != "" {
					note = "ok, " + f.Note
				}
				fmt.Fprintf(&b, "%s: %s\n", name, note)
			}
			continue
		}
		for _, p := range f.Problems {
			where := name
			if p.Line > 0 {
				where = fmt.Sprintf("%s:%d", name, p.Line)
			}
			what := ""
			switch {
			case p.Kind == KindGenerator && p.Secret != "":
				what = "secretGenerator " + p.Secret + ": "
			case p.Kind == KindGenerator:
				what = "secretGenerator: "
			case p.Secret != "":
				what = "Secret " + p.Secret + ": "
			}
			fmt.Fprintf(&b, "%s: %s%s\n", where, what, p.Message)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON prints the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}
