package config

import (
	"errors"
	"path"
	"strings"
)

// compileGlob checks a path pattern and splits it into segments. Patterns
// are relative and slash-separated; "**" as a whole segment stands for any
// number of directories, including none; other segments use path.Match.
func compileGlob(pattern string) ([]string, error) {
	p := strings.TrimPrefix(pattern, "./")
	switch {
	case p == "":
		return nil, errors.New("empty pattern")
	case strings.HasPrefix(p, "/"):
		return nil, errors.New("the pattern must be relative to the directory of the configuration file, not start with /")
	}
	var segs []string
	for _, s := range strings.Split(p, "/") {
		switch {
		case s == "":
			return nil, errors.New("empty path segment (// or a trailing /); to match everything under a directory write DIR/**")
		case s == "." || s == "..":
			return nil, errors.New("'.' and '..' segments are not allowed: patterns match below the directory of the configuration file")
		case s == "**":
			if len(segs) > 0 && segs[len(segs)-1] == "**" {
				continue // "**/**" is "**"; merging keeps matching linear
			}
		case strings.Contains(s, "**"):
			return nil, errors.New("'**' must be a whole path segment, as in prod/**/*.yaml")
		default:
			if _, err := path.Match(s, ""); err != nil {
				return nil, errors.New("malformed pattern (check [ ] brackets and \\ escapes)")
			}
		}
		segs = append(segs, s)
	}
	return segs, nil
}

// matchGlob matches a compiled pattern against a path's segments.
func matchGlob(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(name); i++ {
				if matchGlob(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := matchSegment(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// matchSegment matches one segment, or a namespace, with path.Match.
func matchSegment(pattern, name string) (bool, error) {
	return path.Match(pattern, name)
}
