package advisory

import "testing"

func TestCVSS3Score(t *testing.T) {
	t.Parallel()
	// Scores as NVD's calculator gives them.
	cases := map[string]float64{
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H": 9.8,
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H": 10,
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N": 6.1,
		"CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N": 5.5,
		"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:H": 5.9,
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N": 0,
		"CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N": 1.8,
		"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H": 9.9,
	}
	for v, want := range cases {
		got, err := cvss3Score(v)
		if err != nil || got != want {
			t.Errorf("cvss3Score(%q) = %v, %v; want %v", v, got, err, want)
		}
	}
	if _, err := cvss3Score("CVSS:3.1/AV:X"); err == nil {
		t.Error("a broken vector scored")
	}
}
