package manifest

import (
	"strings"
	"testing"
)

func TestObjects(t *testing.T) {
	for _, c := range []struct {
		name, src string
		ok        bool
		why       string
	}{
		{"object", "apiVersion: v1\nkind: ConfigMap\n", true, ""},
		{"json", `{"apiVersion": "apps/v1", "kind": "Deployment"}`, true, ""},
		{"values", "replicas: 3\n", false, "a document has no apiVersion and kind"},
		{"kind only", "kind: Pod\n", false, "a document has no apiVersion and kind"},
		{"empty", "", false, "no document"},
		{"comments", "# nothing\n---\n# still nothing\n", false, "no document"},
		{"sequence", "- a\n- b\n", false, "a document is not a mapping"},
		{"kustomize", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n", false, "a kustomize file"},
		{"component", "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n", false, "a kustomize file"},
		{"objects and values", "apiVersion: v1\nkind: ConfigMap\n---\nfoo: bar\n", false, "a document has no apiVersion and kind"},
		// A Secret is never passed over, whatever is next to it.
		{"secret and values", "foo: bar\n---\nkind: Secret\n", true, ""},
		{"ksec block", "ksec: {}\n", true, ""},
		{"list", "kind: List\nitems: []\n", true, ""},
		// Left to the command's own parse to report.
		{"invalid", "a: [\n", true, ""},
	} {
		ok, why := Objects([]byte(c.src))
		if ok != c.ok || why != c.why {
			t.Errorf("%s: Objects = %v, %q; want %v, %q", c.name, ok, why, c.ok, c.why)
		}
		secret := strings.Contains(c.src, "Secret") || strings.Contains(c.src, "ksec:") || strings.Contains(c.src, "List")
		if got := HoldsSecret([]byte(c.src)); got != secret {
			t.Errorf("%s: HoldsSecret = %v, want %v", c.name, got, secret)
		}
	}
}
