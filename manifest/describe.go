package manifest

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Describe says what the stream holds, for a message about a stream that
// has no Secret: "2 documents: Deployment, Service". Kinds that come
// close to a Secret say why they are not one ("Secret with apiVersion v2").
func (st *Stream) Describe() string {
	var nums []int
	for n := range st.docs {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	var kinds []string
	for _, n := range nums {
		kinds = append(kinds, describeNode(st.docs[n]))
	}
	switch len(kinds) {
	case 0:
		return "no document"
	case 1:
		return "1 document: " + kinds[0]
	}
	return fmt.Sprintf("%d documents: %s", len(kinds), joinCounted(kinds, 8))
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
	case yaml.SequenceNode:
		return "a list (not a mapping)"
	default:
		return "a scalar (not a mapping)"
	}
	kind := scalarField(n, "kind")
	switch {
	case kind == "":
		return "a mapping without kind"
	case strings.EqualFold(kind, "Secret") && kind != "Secret":
		return fmt.Sprintf("%q (kinds are case-sensitive: Secret)", kind)
	case kind == "Secret" && !isSecret(n):
		return "Secret with apiVersion " + scalarField(n, "apiVersion") + " (want v1)"
	case strings.HasSuffix(kind, "List"):
		if items := field(n, "items"); items != nil && items.Kind == yaml.SequenceNode {
			var in []string
			for _, it := range items.Content {
				in = append(in, describeNode(it))
			}
			if len(in) == 0 {
				return kind + " with no items"
			}
			return kind + " of " + joinCounted(in, 4)
		}
	}
	return kind
}

// joinCounted joins names in order of first appearance, repeated names
// once with a count, at most max distinct names.
func joinCounted(names []string, max int) string {
	var order []string
	count := map[string]int{}
	for _, n := range names {
		if count[n] == 0 {
			order = append(order, n)
		}
		count[n]++
	}
	var parts []string
	for i, n := range order {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more kinds", len(order)-max))
			break
		}
		if count[n] > 1 {
			n = fmt.Sprintf("%s ×%d", n, count[n])
		}
		parts = append(parts, n)
	}
	return strings.Join(parts, ", ")
}
