package cmd

import (
	"strconv"
	"strings"

	"github.com/ksec-dev/ksec/internal/hint"
)

// extractPath reads --extract's argument: FIELD.KEY, a bare KEY, or SOPS's
// form ["FIELD"]["KEY"] (each part a double-quoted string, as SOPS takes
// it), so a SOPS user's scripts keep working. field is "" when not given.
// asWritten is set for SOPS's form: SOPS prints a value as the manifest
// holds it (a data value in base64), and scripts written for it expect that.
func extractPath(what string) (field, key string, asWritten bool, err error) {
	if !strings.HasPrefix(what, "[") {
		field, key, ok := strings.Cut(what, ".")
		if !ok || (field != "data" && field != "stringData") {
			return "", what, false, nil
		}
		return field, key, false, nil
	}
	parts, ok := sopsPath(what)
	if !ok || len(parts) != 2 || (parts[0] != "data" && parts[0] != "stringData") {
		return "", "", false, hint.Wrap(usagef("--extract %s: the SOPS form is [\"data\"][\"KEY\"] or [\"stringData\"][\"KEY\"]", strconv.Quote(what)),
			"or write it the ksec way: --extract data.KEY")
	}
	return parts[0], parts[1], true, nil
}

// sopsPath splits ["a"]["b"]… into its strings.
func sopsPath(s string) ([]string, bool) {
	var parts []string
	for s != "" {
		rest, ok := strings.CutPrefix(s, "[")
		if !ok {
			return nil, false
		}
		rest = strings.TrimLeft(rest, " ")
		if !strings.HasPrefix(rest, `"`) {
			return nil, false
		}
		end := 1 // the closing quote: the first one not escaped
		for end < len(rest) && rest[end] != '"' {
			if rest[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(rest) {
			return nil, false
		}
		part, err := strconv.Unquote(rest[:end+1])
		if err != nil {
			return nil, false
		}
		rest, ok = strings.CutPrefix(strings.TrimLeft(rest[end+1:], " "), "]")
		if !ok {
			return nil, false
		}
		parts = append(parts, part)
		s = rest
	}
	return parts, true
}
