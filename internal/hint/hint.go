// Package hint attaches advice for the user to an error without changing
// what the error says or how errors.Is and errors.As see it.
package hint

type hinted struct {
	err   error
	hints []string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

// Wrap returns err carrying the given hints; a nil err stays nil.
func Wrap(err error, hints ...string) error {
	if err == nil {
		return nil
	}
	return &hinted{err: err, hints: hints}
}

// All returns every hint attached anywhere in err's chain, outermost first.
func All(err error) []string {
	var out []string
	for err != nil {
		if h, ok := err.(*hinted); ok {
			out = append(out, h.hints...)
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				out = append(out, All(e)...)
			}
			return out
		default:
			return out
		}
	}
	return out
}
