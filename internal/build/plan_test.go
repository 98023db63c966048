package build

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/dockerfile"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestPlanGolden plans every testdata/plan/<case>/Dockerfile (with the flags
// in <case>/args) and compares with <case>/plan.golden.
func TestPlanGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/plan/*")
	if err != nil || len(cases) == 0 {
		t.Fatal("no plan cases")
	}
	for _, dir := range cases {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
			if err != nil {
				t.Fatal(err)
			}
			f, err := dockerfile.Parse("Dockerfile", data)
			if err != nil {
				t.Fatal(err)
			}
			target, args := "", map[string]string{}
			if a, err := os.ReadFile(filepath.Join(dir, "args")); err == nil {
				fields := strings.Fields(string(a))
				for i := 0; i+1 < len(fields); i += 2 {
					switch fields[i] {
					case "--target":
						target = fields[i+1]
					case "--build-arg":
						k, v, _ := strings.Cut(fields[i+1], "=")
						args[k] = v
					}
				}
			}
			p, err := NewPlan(f, target, args, v1.Platform{OS: "linux", Architecture: "amd64"})
			if err != nil {
				t.Fatal(err)
			}
			got := p.String()
			golden := filepath.Join(dir, "plan.golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if got != string(want) {
				t.Errorf("plan differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

func TestPlanErrors(t *testing.T) {
	tests := []struct{ name, src, target, want string }{
		{"later stage", "FROM busybox AS a\nCOPY --from=1 /x /x\nFROM busybox\n", "", "Dockerfile:2: invalid from flag value 1"},
		{"duplicate", "FROM busybox AS a\nFROM busybox AS a\n", "", "Dockerfile:2: duplicate stage name"},
		{"no target", "FROM busybox AS a\n", "zzz", `target stage "zzz" could not be found`},
		{"blank base", "ARG B\nFROM $B\n", "", "Dockerfile:2: base name ($B) should not be blank"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := dockerfile.Parse("Dockerfile", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			_, err = NewPlan(f, tc.target, nil, v1.Platform{OS: "linux", Architecture: "amd64"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// FuzzPlan: planning any parsable Dockerfile (stage references, --from,
// FROM expansion) returns a plan or an error, never panics or hangs.
func FuzzPlan(f *testing.F) {
	for _, s := range []string{
		"FROM a AS b\nFROM b\nCOPY --from=b /x /y\n",
		"ARG X=1\nFROM img:${X:-2} AS s0\nRUN --mount=type=bind,from=s0 true\nFROM s0\n",
		"FROM scratch\nCOPY --from=0 / /\n",
		"FROM a AS A\nFROM A AS a\n",
		"ARG B\nFROM $B\n",
	} {
		f.Add([]byte(s), "")
	}
	f.Fuzz(func(t *testing.T, data []byte, target string) {
		df, err := dockerfile.Parse("Dockerfile", data)
		if err != nil {
			return
		}
		p, err := NewPlan(df, target, map[string]string{"X": "9"}, v1.Platform{OS: "linux", Architecture: "amd64"})
		if err != nil {
			return
		}
		_ = p.String()
		if !p.Stages[p.Target].Needed {
			t.Fatal("target not needed")
		}
	})
}
