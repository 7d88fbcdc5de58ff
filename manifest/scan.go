package manifest

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// The YAML library gives each node's start (line and column) but not its
// end. These scanners find where a node ends in the source, so ksec can
// replace exactly a value's bytes and leave every other byte alone.

// indexLines returns the byte offset of the start of every line.
func indexLines(src []byte) []int {
	starts := []int{0}
	for i, c := range src {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// offset converts the parser's 1-based line and character column to a byte offset.
func (st *Stream) offset(line, col int) int {
	if line < 1 || line > len(st.lines) {
		return len(st.src)
	}
	off := st.lines[line-1]
	if line == 1 && bytes.HasPrefix(st.src, utf8BOM) {
		off += len(utf8BOM) // the parser counts columns from after it
	}
	for c := 1; c < col && off < len(st.src) && st.src[off] != '\n'; c++ {
		_, size := utf8.DecodeRune(st.src[off:])
		off += size
	}
	return off
}

// startsLine reports whether only indentation comes before n on its line
// (not the ": " of an explicit key, say).
func (st *Stream) startsLine(n *yaml.Node) bool {
	start := st.offset(n.Line, 1)
	return len(bytes.Trim(st.src[start:st.nodeStart(n)], " \t")) == 0
}

func (st *Stream) nodeStart(n *yaml.Node) int { return st.offset(n.Line, n.Column) }

// lineEnd returns the offset of the newline ending the line holding off (or
// the end of input), not counting a carriage return before it.
func (st *Stream) lineEnd(off int) int {
	for off < len(st.src) && st.src[off] != '\n' {
		off++
	}
	if off > 0 && off <= len(st.src) && st.src[off-1] == '\r' {
		off--
	}
	return off
}

// nextLine returns the offset just past the newline ending the line holding off.
func (st *Stream) nextLine(off int) int {
	for off < len(st.src) && st.src[off] != '\n' {
		off++
	}
	if off < len(st.src) {
		off++
	}
	return off
}

// lineStart returns the offset of the start of the line holding off.
func (st *Stream) lineStart(off int) int {
	for off > 0 && st.src[off-1] != '\n' {
		off--
	}
	return off
}

// indentAt returns the number of spaces at the start of the line at off,
// and whether the line is blank (only spaces, tabs or a carriage return).
func (st *Stream) indentAt(lineOff int) (indent int, blank bool) {
	i := lineOff
	for i < len(st.src) && st.src[i] == ' ' {
		i++
	}
	j := i
	for j < len(st.src) && (st.src[j] == ' ' || st.src[j] == '\t' || st.src[j] == '\r') {
		j++
	}
	return i - lineOff, j >= len(st.src) || st.src[j] == '\n'
}

// nodeEnd returns the offset just past node n. parentIndent is the
// indentation (0-based column) of the block construct holding n: the key's
// column for a mapping value, the dash's column for a sequence item.
func (st *Stream) nodeEnd(n *yaml.Node, parentIndent int, flow bool) int {
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		if n.Style&yaml.FlowStyle != 0 || flow {
			return st.flowCollectionEnd(st.skipProperties(st.nodeStart(n)))
		}
		if len(n.Content) == 0 {
			return st.skipProperties(st.nodeStart(n))
		}
		last := n.Content[len(n.Content)-1]
		if n.Kind == yaml.MappingNode {
			return st.nodeEnd(last, n.Content[len(n.Content)-2].Column-1, false)
		}
		return st.nodeEnd(last, n.Column-1, false)
	case yaml.AliasNode:
		i := st.nodeStart(n)
		for i < len(st.src) && !isSpace(st.src[i]) && !isFlowIndicator(st.src[i]) {
			i++
		}
		return i
	default:
		return st.scalarEnd(n, parentIndent, flow)
	}
}

// skipProperties skips an anchor (&a) or tag (!t) and the spaces after it.
func (st *Stream) skipProperties(i int) int {
	for i < len(st.src) && (st.src[i] == '&' || st.src[i] == '!') {
		for i < len(st.src) && !isSpace(st.src[i]) {
			i++
		}
		for i < len(st.src) && isSpace(st.src[i]) {
			i++
		}
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isFlowIndicator(c byte) bool { return c == ',' || c == '[' || c == ']' || c == '{' || c == '}' }

// scalarEnd returns the offset just past scalar n's text (before any comment).
func (st *Stream) scalarEnd(n *yaml.Node, parentIndent int, flow bool) int {
	start := st.skipProperties(st.nodeStart(n))
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		return st.quotedEnd(start, '"')
	case n.Style&yaml.SingleQuotedStyle != 0:
		return st.quotedEnd(start, '\'')
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return st.blockScalarEnd(start, parentIndent)
	case flow:
		return st.flowPlainEnd(start)
	default:
		return st.blockPlainEnd(start, parentIndent)
	}
}

func (st *Stream) quotedEnd(start int, quote byte) int {
	for i := start + 1; i < len(st.src); i++ {
		switch st.src[i] {
		case '\\':
			if quote == '"' {
				i++
			}
		case quote:
			if quote == '\'' && i+1 < len(st.src) && st.src[i+1] == '\'' {
				i++
				continue
			}
			return i + 1
		}
	}
	return len(st.src)
}

// plainLineEnd returns the end of a plain scalar's text on the line starting
// at i: before a comment (" #") and trailing spaces.
func (st *Stream) plainLineEnd(i int) int {
	end := i
	for j := i; j < len(st.src) && st.src[j] != '\n'; j++ {
		c := st.src[j]
		if c == '#' && j > i && (st.src[j-1] == ' ' || st.src[j-1] == '\t') {
			break
		}
		if c != ' ' && c != '\t' && c != '\r' {
			end = j + 1
		}
	}
	return end
}

func (st *Stream) blockPlainEnd(start, parentIndent int) int {
	end := st.plainLineEnd(start)
	for line := st.nextLine(start); line < len(st.src); line = st.nextLine(line) {
		indent, blank := st.indentAt(line)
		if blank {
			continue
		}
		if indent <= parentIndent || st.src[line+indent] == '#' {
			break
		}
		end = st.plainLineEnd(line + indent)
	}
	return end
}

func (st *Stream) flowPlainEnd(start int) int {
	end := start
	for j := start; j < len(st.src); j++ {
		c := st.src[j]
		if c == '\n' || c == ',' || c == ']' || c == '}' ||
			(c == ':' && (j+1 == len(st.src) || isSpace(st.src[j+1]))) ||
			(c == '#' && j > start && isSpace(st.src[j-1])) {
			break
		}
		if !isSpace(c) {
			end = j + 1
		}
	}
	return end
}

// blockScalarEnd returns the end of a literal or folded block scalar whose
// header starts at start: the end of its last content line, or with the keep
// indicator (+) the end of its last trailing blank line.
func (st *Stream) blockScalarEnd(start, parentIndent int) int {
	i := start + 1
	keep, explicit := false, 0
	// Only + - and one digit are indicators; a comment may follow with no
	// space between (|#8 is no indentation of 8).
indicators:
	for ; i < len(st.src); i++ {
		switch c := st.src[i]; {
		case c == '+':
			keep = true
		case c == '-':
		case c >= '1' && c <= '9':
			explicit = int(c - '0')
		default:
			break indicators
		}
	}
	// The header runs to a comment or the end of its line (parsers accept
	// more than the indicators there).
	end := st.plainLineEnd(start)
	contentIndent := -1
	if explicit > 0 {
		contentIndent = max(parentIndent, 0) + explicit
	}
	for line := st.nextLine(start); line < len(st.src); line = st.nextLine(line) {
		indent, blank := st.indentAt(line)
		if blank && !st.whitespaceContent(line, contentIndent) {
			if keep {
				end = st.lineEnd(line)
			}
			continue
		}
		if contentIndent < 0 {
			if indent <= parentIndent {
				break
			}
			contentIndent = indent
		}
		if indent < contentIndent {
			break
		}
		end = st.lineEnd(line)
	}
	return end
}

// whitespaceContent tells whether a line of only white space is a content
// line of a block scalar indented by contentIndent: YAML reads what follows
// the indentation (spaces, tabs) as the value's text, so the line belongs to
// the scalar, not to its trailing blank lines.
func (st *Stream) whitespaceContent(lineOff, contentIndent int) bool {
	if contentIndent < 0 {
		return false
	}
	return st.lineEnd(lineOff)-lineOff > contentIndent
}

// flowCollectionEnd returns the offset just past the bracket closing the
// flow collection that opens at start.
func (st *Stream) flowCollectionEnd(start int) int {
	depth := 0
	// A quote opens a quoted scalar only where a scalar can start; inside a
	// plain scalar (0") it is an ordinary character.
	var prev byte = '{'
	for i := start; i < len(st.src); i++ {
		c := st.src[i]
		switch c {
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				return i + 1
			}
		case '"', '\'':
			if strings.IndexByte("{[,:?", prev) >= 0 {
				i = st.quotedEnd(i, c) - 1
				prev = c
				continue
			}
		case '#':
			if i > 0 && isSpace(st.src[i-1]) {
				i = st.lineEnd(i) - 1
				continue
			}
		}
		if !isSpace(c) {
			prev = c
		}
	}
	return len(st.src)
}
