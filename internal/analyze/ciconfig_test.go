package analyze

import (
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
// input; whatever it holds, parsing returns rules or an error.
func FuzzParseCIConfig(f *testing.F) {
	f.Add([]byte("rules:\n  lowestEfficiency: 0.95\n"))
	f.Add([]byte("rules: &a [*a]\n"))
	f.Add([]byte("rules:\n  highestWastedBytes: !!binary aGk=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseCIConfig(data)
		if err == nil {
			_ = r.Evaluate(&Report{})
		}
	})
}
