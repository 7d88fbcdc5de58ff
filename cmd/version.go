package cmd

import "runtime/debug"

// resolveVersion returns what ksec --version prints. A release stamps its
// version in with -ldflags; a binary from go install or go build has none,
// so the build information the Go toolchain records is used instead: the
// module version (v1.2.3 from go install …@v1.2.3, or a pseudo-version with
// "+dirty" that go build derives from a git clone), else the commit it was
// built from. "dev" only when Go recorded neither (-buildvcs=false, a git
// worktree, no git).
func resolveVersion(stamped string) string {
	info, ok := debug.ReadBuildInfo()
	return versionOf(stamped, info, ok)
}

func versionOf(stamped string, info *debug.BuildInfo, ok bool) string {
	if stamped != "" {
		return stamped
	}
	if !ok || info == nil {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified == "true" {
		return "dev-" + rev + "-dirty"
	}
	return "dev-" + rev
}
