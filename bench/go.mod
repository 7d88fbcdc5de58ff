// The benchmark's helpers are a module of their own, so that installing
// ksec's tree (go install ./... at the root) installs only ksec.
module github.com/ksec-dev/ksec/bench

go 1.26.0
