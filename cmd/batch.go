package cmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/ksec-dev/ksec/config"
	"github.com/ksec-dev/ksec/internal/hint"
	"github.com/ksec-dev/ksec/manifest"
	"github.com/ksec-dev/ksec/outfile"
)

// dirOptions are the flags of commands that take the manifests under a
// directory (-R).
type dirOptions struct {
	Recursive []string
	Verbose   bool
}

type flagSet interface {
	StringArrayVarP(*[]string, string, string, []string, string)
	IntVar(*int, string, int, string)
	BoolVar(*bool, string, bool, string)
	BoolVarP(*bool, string, string, bool, string)
}

func (d *dirOptions) bind(c flagSet) {
	c.StringArrayVarP(&d.Recursive, "recursive", "R", nil, "also every Kubernetes manifest (.yaml, .yml, .json) under this directory (repeatable)")
	c.BoolVarP(&d.Verbose, "verbose", "v", false, "list the files -R passes over, and why")
}

// batchOptions are the flags of commands that take many files.
type batchOptions struct {
	dirOptions
	Jobs      int
	KeepGoing bool

	// kubesec, when set, opens a kubesec file, which is otherwise refused:
	// its result counts as changed.
	kubesec func(ctx context.Context, file string, src []byte) (*manifest.Stream, error)
}

// open reads and parses one file of a batch; converted says the kubesec
// hook made the stream.
func (b *batchOptions) open(ctx context.Context, file string) (st *manifest.Stream, snap *outfile.Snapshot, converted bool, err error) {
	src, snap, err := readManifestFileSnap(file)
	if err != nil {
		return nil, nil, false, err
	}
	if b.kubesec != nil && isKubesec(src) {
		if ctx.Err() != nil {
			return nil, snap, true, errSkipped // not cheap: it may call a KMS
		}
		st, err = b.kubesec(ctx, file, src)
		return st, snap, true, err
	}
	st, err = parseManifest(file, src)
	return st, snap, false, err
}

func (b *batchOptions) bind(c flagSet) {
	b.dirOptions.bind(c)
	c.IntVar(&b.Jobs, "jobs", 0, "files worked on at once (default: the number of CPUs, at least 4)")
	c.BoolVar(&b.KeepGoing, "keep-going", false, "with many files, go on after a file fails; exit non-zero at the end")
}

// inputFiles returns the files named on the command line followed by those
// found under the -R directories.
func (d *dirOptions) inputFiles(sys *System, args []string) ([]string, error) {
	if slices.Contains(args, "-") {
		return nil, usagef("standard input ('-') cannot be one of several inputs")
	}
	found, err := d.walk(sys)
	if err != nil {
		return nil, err
	}
	return append(slices.Clone(args), found...), nil
}

// walk returns the Kubernetes manifests under the -R directories, sorted
// by path in each. It passes over hidden files and directories, ksec's
// and kustomize's own files, and YAML that is not Kubernetes objects
// (manifest.Objects), naming each with -v/--verbose.
func (d *dirOptions) walk(sys *System) ([]string, error) {
	var files []string
	skip := func(path, why string) {
		if d.Verbose {
			fmt.Fprintf(sys.Err, "ksec: skipped %s: %s\n", path, why)
		}
	}
	for _, dir := range d.Recursive {
		var found []string
		// -R through a symbolic link to a directory (secrets -> ../env/prod)
		// walks that directory: WalkDir alone would see one link, not a
		// directory, and find nothing.
		root := dir
		if fi, err := os.Lstat(dir); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			if st, err := os.Stat(dir); err == nil && st.IsDir() {
				root = dir + string(filepath.Separator)
			}
		}
		realRoot, _ := filepath.EvalSymlinks(root)
		err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() {
				if path != root && strings.HasPrefix(e.Name(), ".") {
					skip(path+string(filepath.Separator), "hidden directory")
					return filepath.SkipDir
				}
				return nil
			}
			if e.Type()&fs.ModeSymlink != 0 {
				d.skipLink(sys, dir, path, realRoot, skip)
				return nil
			}
			switch strings.ToLower(filepath.Ext(path)) {
			case ".yaml", ".yml", ".json":
			default:
				return nil
			}
			if why := skipName(e.Name()); why != "" {
				skip(path, why)
				// Passed over, a Secret in a hidden file would stay in
				// plaintext or be missing from the output: say so always.
				if why == "hidden file" && e.Type().IsRegular() {
					if src, err := readManifestFile(path); err == nil && manifest.HoldsSecret(src) {
						fmt.Fprintf(sys.Err, "ksec: warning: %s holds a Secret but is hidden, so -R passes over it: name it on the command line to include it\n", path)
					}
				}
				return nil
			}
			if !e.Type().IsRegular() {
				skip(path, "not a regular file") // a FIFO is never opened: it could block
				return nil
			}
			// A file that cannot be read is kept: the command reports it.
			if src, err := readManifestFile(path); err == nil {
				if ok, why := manifest.Objects(src); !ok {
					skip(path, "not a Kubernetes manifest: "+why)
					return nil
				}
			}
			found = append(found, path)
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

// skipLink passes over a symbolic link under a -R directory: links are not
// followed (a link to a directory above would loop, a link to a file in
// the tree would read it twice). A link to a manifest that holds a Secret
// and lies outside the tree is named in a warning, with or without -v: its
// Secret would otherwise be left out silently.
func (d *dirOptions) skipLink(sys *System, dir, path, realRoot string, skip func(path, why string)) {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		skip(path, "symbolic link to nothing")
	case st.IsDir():
		skip(path+string(filepath.Separator), "symbolic link to a directory (not followed)")
	case !st.Mode().IsRegular():
		skip(path, "symbolic link to something not a regular file")
	default:
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
		default:
			return
		}
		skip(path, "symbolic link (not followed)")
		real, err := filepath.EvalSymlinks(path)
		if err != nil || realRoot != "" && strings.HasPrefix(real, realRoot+string(filepath.Separator)) {
			return // read under its own name, if -R reads it
		}
		if src, err := readManifestFile(path); err == nil && manifest.HoldsSecret(src) {
			fmt.Fprintf(sys.Err, "ksec: warning: %s holds a Secret but is a symbolic link to a file outside %s, so -R passes over it: name it on the command line to include it\n", path, dir)
		}
	}
}

// skipName says why -R passes over a file by its name alone, or "".
func skipName(name string) string {
	switch {
	case name == config.FileName:
		return "ksec configuration"
	case strings.HasPrefix(name, "."):
		return "hidden file"
	case name == "kustomization.yaml", name == "kustomization.yml":
		return "kustomize file"
	}
	return ""
}

func (d *dirOptions) many(args []string) bool { return len(args) > 1 || len(d.Recursive) > 0 }

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
	sites   []manifest.Site   // where the file defines its Secrets
}

// runBatch reads and parses every file and runs work on it with a bounded
// number of workers and returns the results in the files' order. Without
// keepGoing the first failure cancels the work on files not yet started;
// they are still read and parsed (cheap, local), so that every file that
// cannot be read or parsed is reported and counted.
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
				if parent.Err() != nil { // interrupted: the files worked on say so
					results[i] = batchResult{file: files[i], err: errSkipped}
					continue
				}
				st, snap, converted, err := b.open(ctx, files[i])
				var out []byte
				var changed bool
				var sites []manifest.Site
				switch {
				case err != nil:
				case ctx.Err() != nil:
					err = errSkipped
				default:
					sites = st.Sites(files[i])
					out, changed, err = work(ctx, files[i], st)
					changed = changed || converted
					if err != nil && ctx.Err() != nil && parent.Err() == nil {
						err = errSkipped // stopped because another file failed
					}
				}
				results[i] = batchResult{file: files[i], out: out, changed: changed, err: err, snap: snap, sites: sites}
				if err != nil && !b.KeepGoing {
					cancel()
				}
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// checkDuplicateScopes looks for a Secret that several files of the run
// define. Joined into one stream (stream set), kubectl would apply the last
// copy, so an older copy could roll the Secret back: every later file
// defining it fails, before anything is written. Written back each to its
// own file, the same name may well be meant (one directory per
// environment, the namespace set later by kustomize): a warning names them.
func checkDuplicateScopes(sys *System, results []batchResult, stream bool) {
	// sites lists the Secrets of the files not failed yet; owner, for each,
	// its result (a file given twice is two results).
	sites := func() (sites []manifest.Site, owner []int) {
		for i, r := range results {
			if r.err == nil {
				for _, s := range r.sites {
					sites, owner = append(sites, s), append(owner, i)
				}
			}
		}
		return sites, owner
	}
	if !stream {
		all, _ := sites()
		for _, dup := range manifest.DuplicateScopes(all) {
			fmt.Fprintf(sys.Err, "ksec: warning: %s\n", dup)
		}
		return
	}
	for {
		all, owner := sites()
		err := manifest.CheckScopes(all)
		var dup *manifest.DuplicateScopeError
		if !errors.As(err, &dup) {
			return
		}
		results[owner[dup.At]].err = err
	}
}

var errSkipped = errors.New("skipped after an earlier failure")

// batchErrors reports every failed file on stderr, in order, and returns
// an error that says how many failed, with the first failure's exit code.
func batchErrors(sys *System, results []batchResult) error {
	code, failed, skipped := 0, 0, 0
	for _, r := range results {
		if errors.Is(r.err, errSkipped) {
			skipped++
		}
		if r.err == nil || errors.Is(r.err, errSkipped) {
			continue
		}
		failed++
		c := reportError(sys.Err, fileError(r.file, r.err))
		if code == 0 {
			code = c
		}
	}
	if failed == 0 && skipped > 0 {
		// Only an interrupt stops files without a failure.
		return fmt.Errorf("%s not worked on: %w", countOf(skipped, "file", "files"), context.Canceled)
	}
	if failed == 0 {
		return nil
	}
	err := &exitError{code: code, msg: fmt.Sprintf("%d of %d files failed", failed, len(results))}
	if skipped > 0 {
		return hint.Wrap(err, fmt.Sprintf("%s not worked on after the first failure; --keep-going goes on with them",
			countOf(skipped, "file was", "files were")))
	}
	return err
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
	// A file that starts with "---x: y" does not start a document: its
	// keys would join the previous file's last document (a Secret gaining
	// a stringData from the next file), so it gets a separator too.
	startsWithSeparator := func(b []byte) bool {
		return len(b) >= 3 && string(b[:3]) == "---" && (len(b) == 3 || strings.IndexByte(" \t\r\n", b[3]) >= 0)
	}
	var out []byte
	for _, r := range results {
		if r.err != nil || len(r.out) == 0 {
			continue
		}
		if len(out) > 0 && !startsWithSeparator(r.out) {
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
// Every write that fails is reported: the first (in the files' order) is
// returned, the others are printed, so no file left unwritten goes unnamed.
func (b *batchOptions) writeInPlace(sys *System, results []batchResult, like ioOptions) error {
	errs := make([]error, len(results))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(b.jobs(), len(results)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := results[i]
				io := ioOptions{Input: r.file, InPlace: true, Force: like.Force, plaintext: like.plaintext, snap: r.snap}
				errs[i] = io.write(sys, r.out, false)
			}
		}()
	}
	writes := 0
	for i, r := range results {
		if r.err == nil && r.changed {
			writes++
			next <- i
		}
	}
	close(next)
	wg.Wait()
	return firstWriteError(sys, errs, writes)
}

// firstWriteError prints every failed write but the first, and returns the
// first, saying how many of the writes failed when more than one did.
func firstWriteError(sys *System, errs []error, writes int) error {
	var first error
	failed := 0
	for _, err := range errs {
		if err == nil {
			continue
		}
		failed++
		if first == nil {
			first = err
			continue
		}
		reportError(sys.Err, err)
	}
	if failed > 1 {
		return hint.Wrap(first, fmt.Sprintf("%d of %d files could not be written (each is named above); the others were written", failed, writes))
	}
	return first
}

// oncePerFile drops a file named again under another name (a.yaml
// ./a.yaml, a symbolic link to it) from a run that writes files in place:
// worked on twice, the second write would find the first one's result and
// fail as if another program had changed the file. Hard links are
// different names, kept (--force writes each).
func oncePerFile(sys *System, files []string) []string {
	seen := map[string]string{}
	out := files[:0:0]
	for _, f := range files {
		key := f
		if real, err := filepath.EvalSymlinks(f); err == nil {
			if abs, err := filepath.Abs(real); err == nil {
				key = abs
			}
		}
		if first, ok := seen[key]; ok {
			fmt.Fprintf(sys.Err, "ksec: warning: %s is the same file as %s: it is worked on once\n", f, first)
			continue
		}
		seen[key] = f
		out = append(out, f)
	}
	return out
}
