package main

import (
	"os"
	"strings"
	"time"

	"github.com/ksec-dev/ksec/internal/race"
)

// Why go test -race of this package took about 6 minutes, and what is done
// about it:
//
//   - Every run of the ksec binary (this test binary, re-executed; several
//     hundred of them in the scripts and the hardening tests) is a race
//     build, and a race build sleeps 1 s before it exits (GORACE option
//     atexit_sleep_ms, default 1000) so that late races get reported:
//     raceQuickExit shortens that sleep for the ksec processes the tests
//     start.
//   - ksec code runs several times slower under the race detector and
//     uses several times more memory, and the tamper matrices run it in
//     process thousands of times (1,600 tampered files, 2-3 commands
//     each), the hostile inputs on inputs of up to 100,000 keys: work with
//     nothing concurrent for the race detector to check. Under -race these
//     tables run a fixed sample (raceSample, bigUnderRace); the ordinary
//     go test of the same CI run covers every case.

// raceQuickExit sets, under -race, GORACE=atexit_sleep_ms=10 (keeping any
// other GORACE options, and a sleep the user chose) for the ksec processes
// the tests start: they inherit it (testscript passes GORACE on, and
// newBinary's environment carries it). A race found in one of them still
// makes it exit with status 66 and print the report, which fails the test.
func raceQuickExit() {
	if !race.Enabled {
		return
	}
	if g := os.Getenv("GORACE"); !strings.Contains(g, "atexit_sleep_ms=") {
		os.Setenv("GORACE", strings.TrimSpace(g+" atexit_sleep_ms=10"))
	}
}

// raceEvery: under -race, besides the first case of each group, every
// raceEvery-th case of a table runs.
const raceEvery = 16

// raceSample picks, under -race, the cases of a table to run: the first of
// each group (so every kind of case still runs) and every raceEvery-th;
// without -race, every case. The choice is deterministic.
type raceSample map[string]bool

func (s raceSample) keep(i int, group string) bool {
	if !race.Enabled || !s[group] {
		s[group] = true
		return true
	}
	return i%raceEvery == 0
}

// raceStretch stretches a hang guard under -race, where every run of ksec
// is several times slower: the guards catch hangs, not slowness.
func raceStretch(d time.Duration) time.Duration {
	if race.Enabled {
		return 5 * d
	}
	return d
}

// bigUnderRace names TestHostileInput's cases that only push sizes and
// limits (time, memory, counts); under -race they are skipped, since the
// race detector has nothing to check there and its memory use would break
// their limits. TestHostileInput fails when a name here names no case.
var bigUnderRace = map[string]bool{
	"2,000 age recipients":                 true,
	"a Secret with 100,000 keys":           true,
	"2,000 Secrets in one stream":          true,
	"100,000 empty documents":              true,
	"a 10 MiB value":                       true,
	"a result larger than the input limit": true,
	"deeply nested block document":         true,
}
