// Package race tells tests whether they run under the race detector, where
// code runs several times slower and uses several times more memory. The
// largest end-to-end tables then run a fixed sample of their cases and skip
// memory limits; the full tables run in the ordinary go test of the same CI
// run (see .ci/run).
package race
