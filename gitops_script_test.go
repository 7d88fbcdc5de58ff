package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
	"go.yaml.in/yaml/v3"

	"github.com/ksec-dev/ksec/internal/tooltest"
)

func init() {
	scriptCommands["tool"] = cmdTool
	scriptCommands["argocd-generate"] = cmdArgoGenerate
	scriptCommands["argocd-kustomize"] = cmdArgoKustomize
	scriptCommands["repocopy"] = cmdRepoCopy
}

// gitopsTools are the real programs the GitOps scripts drive, built from
// the modules under tools/.
var gitopsTools = map[string]tooltest.Tool{
	"kustomize": {Dir: "kustomize", Package: "sigs.k8s.io/kustomize/kustomize/v5"},
	"helm":      {Dir: "helm", Package: "helm.sh/helm/v3/cmd/helm"},
	"helm4":     {Dir: "helm4", Package: "helm.sh/helm/v4/cmd/helm"},
}

// tool NAME...: put the real NAME (kustomize, helm) on the script's PATH.
func cmdTool(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: tool NAME...")
	}
	dir := ts.MkAbs(".tools")
	ts.Check(os.MkdirAll(dir, 0o755))
	for _, name := range args {
		tool, ok := gitopsTools[name]
		if !ok {
			ts.Fatalf("tool: no tool %q", name)
		}
		bin, err := tooltest.Binary(tool)
		ts.Check(err)
		ts.Check(os.Symlink(bin, filepath.Join(dir, name)))
	}
	ts.Setenv("PATH", dir+string(os.PathListSeparator)+ts.Getenv("PATH"))
}

// repocopy SRC DST: copy SRC, a file or a directory of files in the
// repository (e.g. deploy/helm), to DST in the script's directory, as a
// user's checkout of ksec would hold it.
func cmdRepoCopy(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: repocopy SRC DST")
	}
	src, dst := args[0], ts.MkAbs(args[1]) // src relative to the repository root
	ts.Check(filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	}))
}

// argocd-generate PLUGIN: run the generate command of the Config Management
// Plugin in PLUGIN (a path in the repository, e.g. deploy/argocd/plugin.yaml)
// as Argo CD's CMP server does: in the current directory (the
// Application's path), with the script's environment, which the script
// sets as Argo CD would (ARGOCD_APP_*, ARGOCD_ENV_*). Its init command,
// if any, runs first. stdout and stderr are the generate command's.
func cmdArgoGenerate(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: argocd-generate PLUGIN")
	}
	data, err := os.ReadFile(args[0]) // relative to the repository root
	ts.Check(err)
	var p struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Spec       struct {
			Init     *struct{ Command, Args []string } `yaml:"init"`
			Generate struct{ Command, Args []string }  `yaml:"generate"`
		} `yaml:"spec"`
	}
	ts.Check(yaml.Unmarshal(data, &p))
	if p.APIVersion != "argoproj.io/v1alpha1" || p.Kind != "ConfigManagementPlugin" || len(p.Spec.Generate.Command) == 0 {
		ts.Fatalf("%s is not a ConfigManagementPlugin with a generate command", args[0])
	}
	if p.Spec.Init != nil && len(p.Spec.Init.Command) > 0 {
		all := append(p.Spec.Init.Command[1:], p.Spec.Init.Args...)
		ts.Check(ts.Exec(p.Spec.Init.Command[0], all...))
	}
	all := append(p.Spec.Generate.Command[1:], p.Spec.Generate.Args...)
	err = ts.Exec(p.Spec.Generate.Command[0], all...)
	if (err != nil) != neg {
		ts.Fatalf("generate: %v\n%s", err, ts.ReadFile("stderr"))
	}
}

// argocd-kustomize CM PATH: run kustomize build PATH with the build options
// of the argocd-cm patch CM, as Argo CD's native kustomize does
// (kustomize build PATH OPTIONS...).
func cmdArgoKustomize(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: argocd-kustomize CM PATH")
	}
	data, err := os.ReadFile(args[0])
	ts.Check(err)
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	ts.Check(yaml.Unmarshal(data, &cm))
	opts := strings.Fields(cm.Data["kustomize.buildOptions"])
	if len(opts) == 0 {
		ts.Fatalf("%s sets no kustomize.buildOptions", args[0])
	}
	err = ts.Exec("kustomize", append([]string{"build", args[1]}, opts...)...)
	if (err != nil) != neg {
		ts.Fatalf("kustomize: %v\n%s", err, ts.ReadFile("stderr"))
	}
}
