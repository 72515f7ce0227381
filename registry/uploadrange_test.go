package registry_test

import (
	"testing"

	"github.com/berth-registry/berth/registry"
)

func TestParseUploadRange(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][2]int64{"0-0": {0, 0}, "0-1023": {0, 1023}, "1024-2047": {1024, 2047}} {
		s, e, err := registry.ParseUploadRange(in)
		if err != nil || s != want[0] || e != want[1] {
			t.Errorf("%q: %d, %d, %v", in, s, e, err)
		}
	}
	for _, in := range []string{"", "-1-5", "5--1", "-5", "5-", "a-b", "5-3", "bytes 0-5", "0-5/10", " 0-5", "+1-5",
		"0-99999999999999999999", "0x1-5"} {
		if _, _, err := registry.ParseUploadRange(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
