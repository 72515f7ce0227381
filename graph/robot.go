package graph

import "github.com/berth-registry/berth/ent/schema"

// robotPermissions is GraphQL's list of robot permissions as the robot service takes it; nil
// stays nil (no change).
func robotPermissions(in []*schema.RobotPermission) []schema.RobotPermission {
	if in == nil {
		return nil
	}
	out := make([]schema.RobotPermission, len(in))
	for i, p := range in {
		out[i] = *p
	}
	return out
}
