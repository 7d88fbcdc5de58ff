package manifest

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/ksec-dev/ksec/internal/hint"
)

// Shadow is a key set under both data and stringData. The API server
// merges stringData over data, so the data value is silently dropped.
type Shadow struct {
	Data, StringData *Value
}

func (sh Shadow) String() string {
	return fmt.Sprintf("%s and %s", sh.Data, sh.StringData)
}

// Problem says what is wrong, for errors and warnings.
func (sh Shadow) Problem() string {
	return fmt.Sprintf("the key %q is under both data (line %d) and stringData (line %d)", sh.Data.Key, sh.Data.Line, sh.StringData.Line)
}

// Shadows lists the Secret's keys set under both data and stringData.
func (s *Secret) Shadows() []Shadow {
	data := map[string]*Value{}
	for _, v := range s.Values {
		if v.Field == "data" {
			data[v.Key] = v
		}
	}
	var out []Shadow
	for _, v := range s.Values {
		if d, ok := data[v.Key]; ok && v.Field == "stringData" {
			out = append(out, Shadow{Data: d, StringData: v})
		}
	}
	return out
}

// Twin returns the value with v's key in the other field, or nil.
func (s *Secret) Twin(v *Value) *Value {
	for _, w := range s.Values {
		if w.Key == v.Key && w.Field != v.Field {
			return w
		}
	}
	return nil
}

// HintShadow is the advice for a key set under both data and stringData.
const HintShadow = "Kubernetes merges stringData over data, so the data value would be dropped without a word: keep the key in one of them only"

// CheckShadows refuses a stream where some Secret sets a key under both
// data and stringData.
func (st *Stream) CheckShadows() error {
	for _, s := range st.Secrets {
		if sh := s.Shadows(); len(sh) > 0 {
			return hint.Wrap(&Error{Secret: s, Err: badInput("%s", sh[0].Problem())}, HintShadow)
		}
	}
	return nil
}

// CommentLines returns the lines of comments inside the Secret's data and
// stringData (their own line included): encrypting seals values, never
// comments, so a comment there (an old value commented out) stays readable.
func (st *Stream) CommentLines(s *Secret) []int {
	var lines []int
	flow := s.mapping.Style&yaml.FlowStyle != 0
	for i := 0; i+1 < len(s.mapping.Content); i += 2 {
		k, val := s.mapping.Content[i], s.mapping.Content[i+1]
		if k.Value != "data" && k.Value != "stringData" {
			continue
		}
		lines = append(lines, st.commentsIn(s, k, val, flow)...)
	}
	return lines
}

// commentsIn scans the source of field k: val, and the comment lines
// indented under it that follow, for comments outside keys and values.
func (st *Stream) commentsIn(s *Secret, k, val *yaml.Node, flow bool) []int {
	var spans [][2]int // keys and values: a '#' inside them is text
	for _, v := range s.Values {
		if v.Field == k.Value {
			spans = append(spans, [2]int{v.start, v.end})
		}
	}
	if val.Kind == yaml.MappingNode {
		for j := 0; j < len(val.Content); j += 2 {
			key := val.Content[j]
			// An implicit key is one line: read it as flow plain text,
			// which ends at ": " or a comment.
			spans = append(spans, [2]int{st.nodeStart(key), st.scalarEnd(key, key.Column-1, true)})
		}
	}
	inSpan := func(off int) bool {
		for _, sp := range spans {
			if off >= sp[0] && off < sp[1] {
				return true
			}
		}
		return false
	}
	from := st.nodeStart(k)
	end := st.nodeEnd(val, k.Column-1, flow)
	// Comment lines right after the field, indented under its key, are
	// the field's (a foot comment of its last value).
	for next := st.nextLine(end); next < len(st.src); next = st.nextLine(next) {
		indent, blank := st.indentAt(next)
		if !blank && (st.src[next+indent] != '#' || indent <= k.Column-1 || flow) {
			break
		}
		end = st.lineEnd(next)
	}
	var lines []int
	line := k.Line
	for p := from; p < end && p < len(st.src); p++ {
		switch c := st.src[p]; {
		case c == '\n':
			line++
		case c == '#' && (p == 0 || isSpace(st.src[p-1])) && !inSpan(p):
			lines = append(lines, line)
			p = st.lineEnd(p) - 1 // the rest of the line is the comment
		}
	}
	return lines
}
