package protocol

import "testing"

func TestGroupSerial(t *testing.T) {
	for in, want := range map[string]string{
		"1625834976919804":        "1625 8349 7691 9804",
		"12345678":                "12345678",
		"0000000000000000-3fa2c1": "0000 0000 0000 0000-3fa2c1",
		"-3fa2c1":                 "-3fa2c1",
	} {
		if got := GroupSerial(in); got != want {
			t.Errorf("GroupSerial(%q) = %q, want %q", in, got, want)
		}
	}
}
