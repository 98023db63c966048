package analyze

import (
	"io"
	"strings"
	"testing"
)

func TestParseCIConfig(t *testing.T) {
	tests := []struct {
		in      string
		want    Rules
		wantErr string
	}{
		{"rules:\n  lowestEfficiency: 0.95\n  highestWastedBytes: 20MB\n  highestUserWastedPercent: \"0.2\"\n", Rules{"0.95", "20MB", "0.2"}, ""},
		{"RULES:\n  LOWESTEFFICIENCY: 1\n  other: x\n", Rules{LowestEfficiency: "1"}, ""},
		{"rules:\n  highestWastedBytes: disabled\n", Rules{HighestWastedBytes: "disabled"}, ""},
		{"nothing: here\n", Rules{}, ""},
		{"rules: 3\n", Rules{}, "rules must be a mapping"},
		{"rules: [\n", Rules{}, "yaml"},
		{strings.Repeat("#", MaxCIConfig+1), Rules{}, "larger than"},
	}
	for _, tt := range tests {
		got, err := ParseCIConfig([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: %+v %v, want %+v", tt.in, got, err, tt.want)
		}
	}
}

// FuzzParseCIConfig: a .dive-ci from a repository under test is untrusted
// input; whatever it holds, parsing returns rules or an error, and the
// rules evaluate and print without a panic (a rule that cannot be read is
// "misconfigured").
func FuzzParseCIConfig(f *testing.F) {
	f.Add([]byte("rules:\n  lowestEfficiency: 0.95\n"))
	f.Add([]byte("rules: &a [*a]\n"))
	f.Add([]byte("rules:\n  highestWastedBytes: !!binary aGk=\n"))
	f.Add([]byte("rules:\n  lowestEfficiency: -1\n  highestWastedBytes: 1e400\n  highestUserWastedPercent: NaN\n"))
	f.Add([]byte("rules:\n  highestWastedBytes: 99999999999999999999999 EB\n"))
	f.Add([]byte("a: &a [*a, *a]\nrules: *a\n"))
	rep := &Report{SizeBytes: 1000, UserSizeBytes: 400, WastedBytes: 100, Efficiency: 0.9, UserWastedPercent: 0.25}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseCIConfig(data)
		if err != nil {
			return
		}
		def := DefaultRules()
		for _, v := range []*string{&r.LowestEfficiency, &r.HighestWastedBytes, &r.HighestUserWastedPercent} {
			if *v == "" {
				*v = def.LowestEfficiency
			}
		}
		for _, rp := range []*Report{{}, rep} {
			WriteCIReport(io.Discard, rp, r.Evaluate(rp), Styler{})
		}
	})
}
