// Package scantest builds the real inputs scan tests need: Go programs
// compiled against pinned module versions, the Go vulnerability database
// from the module proxy, and images assembled layer by layer in code. It is
// imported by tests only and must not import internal/cli or internal/store.
package scantest

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// VulnDBModule is the pinned golang.org/x/vulndb snapshot (CC-BY-4.0; it is
// downloaded into the module cache by the tests, never committed).
const VulnDBModule = "golang.org/x/vulndb@v0.0.0-20261105234957-e22db6528018"

var (
	vulndbOnce sync.Once
	vulndbDir  string
	vulndbErr  error
)

// GoVulnDB returns the data/osv directory of the pinned Go vulnerability
// database, downloading the module through the Go module proxy once.
func GoVulnDB(t testing.TB) string {
	t.Helper()
	vulndbOnce.Do(func() {
		cmd := exec.Command("go", "mod", "download", "-json", VulnDBModule)
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		cmd.Dir = os.TempDir()
		out, err := cmd.Output()
		if err != nil {
			vulndbErr = err
			return
		}
		var m struct{ Dir, Error string }
		if err := json.Unmarshal(out, &m); err != nil {
			vulndbErr = err
			return
		}
		vulndbDir = filepath.Join(m.Dir, "data", "osv")
	})
	if vulndbErr != nil {
		t.Fatalf("downloading %s: %v", VulnDBModule, vulndbErr)
	}
	return vulndbDir
}

// GoProgram builds a small static program that uses golang.org/x/text and
// gopkg.in/yaml.v2 at the given versions and returns its bytes.
func GoProgram(t testing.TB, textVersion, yamlVersion string) []byte {
	t.Helper()
	dir := t.TempDir()
	gomod := "module example.com/vulnapp\n\ngo 1.21\n\nrequire (\n\tgolang.org/x/text " + textVersion + "\n\tgopkg.in/yaml.v2 " + yamlVersion + "\n)\n"
	main := `package main

import (
	"fmt"

	"golang.org/x/text/language"
	"gopkg.in/yaml.v2"
)

func main() {
	tags, _, _ := language.ParseAcceptLanguage("en-US,fr;q=0.5")
	var v map[string]string
	_ = yaml.Unmarshal([]byte("a: b"), &v)
	fmt.Println(tags, v)
}
`
	for name, data := range map[string]string{"go.mod": gomod, "main.go": main} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "vulnapp")
	for _, args := range [][]string{{"mod", "tidy"}, {"build", "-trimpath", "-o", out, "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "CGO_ENABLED=0", "GOWORK=off")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// File is one entry of a test layer. A Link makes a symlink; a Name whose
// base starts with ".wh." is a whiteout.
type File struct {
	Name string
	Data []byte
	Mode int64
	Link string
}

// Layer builds an uncompressed layer tar from files (parent directories
// included, in a stable order).
func Layer(t testing.TB, files []File) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	sort.SliceStable(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	mt := time.Unix(1700000000, 0)
	for _, f := range files {
		for d := filepath.Dir(f.Name); d != "." && d != "/" && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	var ds []string
	for d := range dirs {
		ds = append(ds, d)
	}
	sort.Strings(ds)
	for _, d := range ds {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: mt}); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: f.Name, Mode: mode, Size: int64(len(f.Data)), ModTime: mt}
		if f.Link != "" {
			h = &tar.Header{Typeflag: tar.TypeSymlink, Name: f.Name, Linkname: f.Link, Mode: 0o777, ModTime: mt}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if f.Link == "" {
			if _, err := tw.Write(f.Data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Step is a layer with the history entry that made it.
type Step struct {
	CreatedBy string
	Files     []File
}

// Image stacks steps into an image with a history.
func Image(t testing.TB, steps ...Step) v1.Image {
	t.Helper()
	img := empty.Image
	for _, s := range steps {
		var err error
		img, err = mutate.Append(img, mutate.Addendum{Layer: Layer(t, s.Files), History: v1.History{CreatedBy: s.CreatedBy, Created: v1.Time{Time: time.Unix(1700000000, 0)}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// DebianOSRelease is a Debian 12 os-release.
var DebianOSRelease = []byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n")

// AlpineOSRelease is an Alpine 3.19 os-release.
var AlpineOSRelease = []byte("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\n")
