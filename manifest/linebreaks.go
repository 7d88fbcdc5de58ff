package manifest

import "bytes"

// utf8BOM may start a stream; the YAML parser skips it and counts the
// columns of the first line from after it.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// checkEncoding refuses input whose line structure ksec would read
// differently from the YAML parser. ksec splices values at the parser's
// line and column positions, counting lines by LF; the parser also takes a
// lone CR, NEL (U+0085), LS (U+2028) and PS (U+2029) as line breaks, and
// decodes UTF-16. Accepting those would let a file changed only in its line
// breaks decrypt into values written at the wrong place (under another key).
func checkEncoding(src []byte) error {
	if bytes.HasPrefix(src, []byte{0xFF, 0xFE}) || bytes.HasPrefix(src, []byte{0xFE, 0xFF}) {
		return badInput("the input is UTF-16; ksec reads UTF-8 only")
	}
	line := 1
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '\n':
			line++
			continue
		case '\r':
			if i+1 < len(src) && src[i+1] == '\n' {
				continue
			}
		case 0xC2:
			if i+1 >= len(src) || src[i+1] != 0x85 {
				continue
			}
		case 0xE2:
			if i+2 >= len(src) || src[i+1] != 0x80 || (src[i+2] != 0xA8 && src[i+2] != 0xA9) {
				continue
			}
		default:
			continue
		}
		return &Error{Line: line, Err: badInput("a line break other than LF or CRLF (a lone CR, NEL, U+2028 or U+2029) is not supported")}
	}
	return nil
}
