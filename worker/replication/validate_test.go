package replication

import (
	"context"
	"strings"
	"testing"

	"github.com/berth-registry/berth/ent/replicationpolicy"
	"github.com/berth-registry/berth/fault"
)

// TestValidateRefusesHostilePolicies feeds the policy check what a hostile or careless caller
// sends; each is refused as bad input before anything is looked up or stored.
func TestValidateRefusesHostilePolicies(t *testing.T) {
	t.Parallel()
	valid := func() PolicyInput {
		return PolicyInput{Name: "p", Direction: replicationpolicy.DirectionPush, RegistryID: 1}
	}
	for name, mutate := range map[string]func(*PolicyInput){
		"blank name":        func(in *PolicyInput) { in.Name = "   " },
		"huge name":         func(in *PolicyInput) { in.Name = strings.Repeat("n", 256) },
		"unknown direction": func(in *PolicyInput) { in.Direction = "SIDEWAYS" },
		"unknown trigger":   func(in *PolicyInput) { in.Trigger = "WHENEVER" },
		"bad cron":          func(in *PolicyInput) { in.Trigger, in.Cron = replicationpolicy.TriggerScheduled, "* * *; rm -rf /" },
		"event-based pull": func(in *PolicyInput) {
			in.Direction, in.Trigger = replicationpolicy.DirectionPull, replicationpolicy.TriggerEventBased
		},
		"deleting pull":           func(in *PolicyInput) { in.Direction, in.ReplicateDeletion = replicationpolicy.DirectionPull, true },
		"glob with ** in segment": func(in *PolicyInput) { in.Filter.Repository = "lib**ary/*" },
		"unclosed tag class":      func(in *PolicyInput) { in.Filter.Tag = "v1.[" },
		"unknown resource":        func(in *PolicyInput) { in.Filter.Resource = "helm'; --" },
		"too many labels":         func(in *PolicyInput) { in.Filter.Labels = make([]string, 101) },
		"huge description":        func(in *PolicyInput) { in.Description = strings.Repeat("d", 1025) },
		"source with a path":      func(in *PolicyInput) { in.SourceNamespace = "../etc" },
		"empty path part":         func(in *PolicyInput) { in.DestNamespace = "a//b" },
		"huge namespace":          func(in *PolicyInput) { in.DestNamespace = strings.Repeat("x", 256) },
		"flatten below -1":        func(in *PolicyInput) { in.DestNamespace, in.DestNamespaceReplaceCount = "m", -2 },
		"flatten with no target":  func(in *PolicyInput) { in.DestNamespaceReplaceCount = 1 },
		"negative bandwidth":      func(in *PolicyInput) { in.SpeedKB = -1 },
	} {
		in := valid()
		mutate(&in)
		// A Service with no database: every refusal must come before the endpoint lookup.
		err := (&Service{}).validate(context.Background(), &in)
		if f, ok := fault.As(err); !ok || f.Kind != fault.KindBadInput {
			t.Errorf("%s: %v, want bad input", name, err)
		}
	}
}
