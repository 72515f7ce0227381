package server

import (
	"reflect"
	"testing"

	"github.com/berth-registry/berth/ent"
)

// Every row of the project metadata table names a field that both project inputs have, of the
// type its parse returns, and its reset value is one it accepts: a wrong row fails here, not on a
// request.
func TestProjectMetadataTable(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, row := range projectMetadata {
		if seen[row.key] {
			t.Errorf("metadata key %q twice", row.key)
		}
		seen[row.key] = true
		v, err := row.parse(row.reset)
		if err != nil {
			t.Errorf("%s: reset value %q refused: %v", row.key, row.reset, err)
			continue
		}
		if (v == nil) != (row.field == "") {
			t.Errorf("%s: field %q but parse returns %v", row.key, row.field, v)
			continue
		}
		if row.field == "" {
			continue
		}
		for _, input := range []any{&ent.CreateProjectInput{}, &ent.UpdateProjectInput{}} {
			f := reflect.ValueOf(input).Elem().FieldByName(row.field)
			if !f.IsValid() || f.Kind() != reflect.Pointer || f.Type().Elem() != reflect.TypeOf(v) {
				t.Errorf("%s: %T has no *%T field %s", row.key, input, v, row.field)
				continue
			}
			if err := applyMetadata(map[string]string{row.key: row.reset}, input); err != nil || f.IsNil() {
				t.Errorf("%s: applying %q to %T: %v", row.key, row.reset, input, err)
			}
		}
	}
	if err := applyMetadata(map[string]string{"no_such_key": "true"}, &ent.UpdateProjectInput{}); err == nil {
		t.Error("an unknown key was accepted")
	}
}
