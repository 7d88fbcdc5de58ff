package cmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/ksec-dev/ksec/manifest"
	"github.com/ksec-dev/ksec/outfile"
)

// batchOptions are the flags of commands that take many files.
type batchOptions struct {
	Recursive []string
	Jobs      int
	KeepGoing bool
}

func (b *batchOptions) bind(c interface {
	StringArrayVarP(*[]string, string, string, []string, string)
	IntVar(*int, string, int, string)
	BoolVar(*bool, string, bool, string)
}) {
	c.StringArrayVarP(&b.Recursive, "recursive", "R", nil, "also every .yaml, .yml and .json file under this directory (repeatable)")
	c.IntVar(&b.Jobs, "jobs", 0, "files worked on at once (default: the number of CPUs, at least 4)")
	c.BoolVar(&b.KeepGoing, "keep-going", false, "with many files, go on after a file fails; exit non-zero at the end")
}

// inputFiles returns the files named on the command line followed by those
// found under the -R directories (sorted, hidden directories skipped).
func (b *batchOptions) inputFiles(args []string) ([]string, error) {
	if slices.Contains(args, "-") {
		return nil, usagef("standard input ('-') cannot be one of several inputs")
	}
	files := slices.Clone(args)
	for _, dir := range b.Recursive {
		var found []string
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != dir && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			switch strings.ToLower(filepath.Ext(path)) {
			case ".yaml", ".yml", ".json":
				if d.Type().IsRegular() {
					found = append(found, path)
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("-R %s: %w", dir, err)
		}
		slices.Sort(found)
		files = append(files, found...)
	}
	return files, nil
}

func (b *batchOptions) many(args []string) bool { return len(args) > 1 || len(b.Recursive) > 0 }

func (b *batchOptions) jobs() int {
	if b.Jobs > 0 {
		return b.Jobs
	}
	return max(runtime.NumCPU(), 4)
}

// batchResult is what working on one file gave.
type batchResult struct {
	file    string
	out     []byte
	changed bool
	err     error
	snap    *outfile.Snapshot // what was read, to refuse a file changed since
}

// runBatch reads and parses every file and runs work on it with a bounded number of workers and
// returns the results in the files' order. Without keepGoing the first
// failure cancels the files not yet started.
func (b *batchOptions) runBatch(parent context.Context, files []string, work func(ctx context.Context, file string, st *manifest.Stream) ([]byte, bool, error)) []batchResult {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	results := make([]batchResult, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(b.jobs(), len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				st, snap, err := parseFile(files[i])
				var out []byte
				var changed bool
				if err == nil {
					out, changed, err = work(ctx, files[i], st)
				}
				if err != nil && ctx.Err() != nil && parent.Err() == nil {
					err = errSkipped // stopped because another file failed
				}
				results[i] = batchResult{file: files[i], out: out, changed: changed, err: err, snap: snap}
				if err != nil && !b.KeepGoing {
					cancel()
				}
			}
		}()
	}
	for i := range files {
		if ctx.Err() != nil {
			results[i] = batchResult{file: files[i], err: errSkipped}
			continue
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

var errSkipped = errors.New("skipped after an earlier failure")

// batchErrors reports every failed file on stderr, in order, and returns
// an error that says how many failed, with the first failure's exit code.
func batchErrors(sys *System, results []batchResult) error {
	code, failed := 0, 0
	for _, r := range results {
		if r.err == nil || errors.Is(r.err, errSkipped) {
			continue
		}
		failed++
		c := reportError(sys.Err, fileError(r.file, r.err))
		if code == 0 {
			code = c
		}
	}
	if failed == 0 {
		return nil
	}
	return &exitError{code: code, msg: fmt.Sprintf("%d of %d files failed", failed, len(results))}
}

// exitError ends a command with a given exit code after its details were
// already reported.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// joinStreams makes one YAML stream of several files' outputs.
func joinStreams(results []batchResult) []byte {
	var out []byte
	for _, r := range results {
		if r.err != nil || len(r.out) == 0 {
			continue
		}
		if len(out) > 0 && !strings.HasPrefix(string(r.out), "---") {
			out = append(out, "---\n"...)
		}
		out = append(out, r.out...)
		if out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
	}
	return out
}

// writeInPlace writes every changed file back, with the worker pool: each
// write is an fsync'ed atomic rename, which is slow one after another.
// like gives the output's kind (plaintext or not) and --force.
func (b *batchOptions) writeInPlace(sys *System, results []batchResult, like ioOptions) error {
	var mu sync.Mutex
	var first error
	next := make(chan batchResult)
	var wg sync.WaitGroup
	for range min(b.jobs(), len(results)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range next {
				io := ioOptions{Input: r.file, InPlace: true, Force: like.Force, plaintext: like.plaintext, snap: r.snap}
				if err := io.write(sys, r.out, false); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, r := range results {
		if r.err == nil && r.changed {
			next <- r
		}
	}
	close(next)
	wg.Wait()
	return first
}
