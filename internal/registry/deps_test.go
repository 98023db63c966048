package registry_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies pins what the registry packages may import (STYLE.md:
// dependencies point one way).
func TestDependencies(t *testing.T) {
	tests := []struct {
		pkg       string
		forbidden []string // import path prefixes
	}{
		{"./internal/registry", []string{"github.com/berth-dev/berth/internal/store", "github.com/berth-dev/berth/internal/cli", "github.com/berth-dev/berth/internal/auth", "github.com/berth-dev/berth/internal/remote"}},
		{"./internal/registry/storage", []string{"github.com/berth-dev/berth/", "net/http"}},
		{"./internal/registry/storage/s3", []string{"github.com/berth-dev/berth/internal/registry/storage/storagetest", "github.com/berth-dev/berth/internal/registry/config", "github.com/berth-dev/berth/internal/testenv"}},
		{"./internal/registry/config", []string{"github.com/berth-dev/berth/"}},
		{"./internal/auth", []string{"github.com/berth-dev/berth/", "net/http", "github.com/google/"}},
	}
	for _, tc := range tests {
		t.Run(tc.pkg, func(t *testing.T) {
			cmd := exec.Command("go", "list", "-deps", tc.pkg)
			cmd.Dir = "../.."
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list: %v", err)
			}
			self := "github.com/berth-dev/berth/" + strings.TrimPrefix(tc.pkg, "./")
			for _, dep := range strings.Fields(string(out)) {
				if dep == self {
					continue
				}
				for _, f := range tc.forbidden {
					if strings.HasPrefix(dep, f) {
						t.Errorf("%s imports %s", tc.pkg, dep)
					}
				}
			}
		})
	}
}
