package graph

import "github.com/berth-registry/berth/retention"

// rulePointers is rules as gqlgen's lists of pointers.
func rulePointers(rules []retention.Rule) []*retention.Rule {
	out := make([]*retention.Rule, len(rules))
	for i := range rules {
		out[i] = &rules[i]
	}
	return out
}
