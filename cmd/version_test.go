package cmd

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVersionOf(t *testing.T) {
	vcs := func(main string, settings ...string) *debug.BuildInfo {
		info := &debug.BuildInfo{Main: debug.Module{Path: "github.com/ksec-dev/ksec", Version: main}}
		for i := 0; i+1 < len(settings); i += 2 {
			info.Settings = append(info.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return info
	}
	const rev = "7f34051c0ffee0123456789abcdef0123456789a"
	tests := []struct {
		name    string
		stamped string
		info    *debug.BuildInfo
		ok      bool
		want    string
	}{
		{"release stamp wins", "1.4.0", vcs("v1.3.0", "vcs.revision", rev), true, "1.4.0"},
		{"go install of a tag", "", vcs("v1.3.0"), true, "v1.3.0"},
		{"go build in a dirty checkout", "", vcs("v0.0.0-20261203151000-7f34051c0ffe+dirty", "vcs.revision", rev, "vcs.modified", "true"), true, "v0.0.0-20261203151000-7f34051c0ffe+dirty"},
		{"revision only, clean", "", vcs("(devel)", "vcs", "git", "vcs.revision", rev, "vcs.modified", "false"), true, "dev-7f34051c0ffe"},
		{"revision only, modified", "", vcs("(devel)", "vcs.revision", rev, "vcs.modified", "true"), true, "dev-7f34051c0ffe-dirty"},
		{"short revision kept whole", "", vcs("", "vcs.revision", "abc123"), true, "dev-abc123"},
		{"nothing recorded", "", vcs("(devel)", "-buildvcs", "false"), true, "dev"},
		{"no build information", "", nil, false, "dev"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, versionOf(tc.stamped, tc.info, tc.ok))
		})
	}
}
