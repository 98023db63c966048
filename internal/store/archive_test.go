package store_test

import (
	"archive/tar"
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func rootfsTar(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "etc/hostname", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5})
	tw.Write([]byte("berth"))
	tw.Close()
	return buf.Bytes()
}

func TestImport(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	img, err := st.Import(ctx, bytes.NewReader(rootfsTar(t)), store.ImportOptions{
		Names: []string{"base:1"}, Changes: []string{`CMD ["sh"]`, "LABEL k=v"}, Source: "-",
		Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := st.Inspect(ctx, "base:1", store.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := d.Config
	if d.ConfigName != img.ID || c.Architecture != "arm64" || c.Variant != "v8" || !reflect.DeepEqual(c.Config.Cmd, []string{"sh"}) ||
		c.Config.Labels["k"] != "v" || len(c.RootFS.DiffIDs) != 1 || c.History[0].Comment != "Imported from -" || d.Size < 5 {
		t.Fatalf("imported: %+v", c)
	}
	if _, err := st.Import(ctx, strings.NewReader("not a tar"), store.ImportOptions{Source: "x.tar"}); err == nil || !strings.Contains(err.Error(), "import x.tar") {
		t.Fatalf("a bad tar: %v", err)
	}
	if _, err := st.Import(ctx, bytes.NewReader(rootfsTar(t)), store.ImportOptions{Changes: []string{"RUN true"}}); err == nil {
		t.Fatal("--change RUN accepted")
	}
}

func TestSaveItemsNames(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.st.TagImage(ctx, "app:1", "app:2"); err != nil {
		t.Fatal(err)
	}
	digestName := "docker.io/library/busybox@sha256:" + strings.Repeat("a", 64)
	tests := []struct {
		args    []string
		want    [][]string
		wantErr string
	}{
		{[]string{"busybox:latest"}, [][]string{{"docker.io/library/busybox:latest"}}, ""},
		{[]string{"app"}, [][]string{{"docker.io/library/app:1"}, {"docker.io/library/app:2"}}, ""},
		{[]string{f.app.ID.Hex[:12]}, [][]string{nil}, ""},
		{[]string{"busybox@sha256:" + strings.Repeat("a", 64)}, [][]string{{digestName}}, ""},
		{[]string{"busybox", "nope"}, nil, "no such image: nope"},
	}
	for _, tt := range tests {
		items, err := f.st.SaveItems(ctx, tt.args, nil)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: %v, want %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		var got [][]string
		for _, it := range items {
			if it.Image == nil || it.Index != nil {
				t.Fatalf("%v: %+v", tt.args, it)
			}
			got = append(got, it.Names)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%v: names %q, want %q", tt.args, got, tt.want)
		}
	}
}

func TestRecordLoaded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var lines []string
	emit := func(s string) { lines = append(lines, s) }
	// Loading base's manifest as app:1 moves the name away from app.
	err := f.st.RecordLoaded(ctx, []store.Loaded{
		{Descriptor: f.base.Descriptor(), Names: []string{"docker.io/library/app:1"}},
		{Descriptor: f.other.Descriptor()},
	}, nil, emit)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"The image app:1 already exists, renaming the old one with ID " + f.app.ID.String() + " to empty string",
		"Loaded image: app:1",
		"Loaded image ID: " + f.other.ID.String(),
	}
	if !reflect.DeepEqual(lines, want) {
		t.Fatalf("lines %q\nwant %q", lines, want)
	}
	err = f.st.RecordLoaded(ctx, []store.Loaded{{Descriptor: f.base.Descriptor(), Names: []string{"docker.io/library/x:1"}}},
		&v1.Platform{OS: "linux", Architecture: "s390x"}, emit)
	if err == nil || !strings.Contains(err.Error(), "image x:1 does not provide the specified platform (linux/s390x)") {
		t.Fatalf("platform: %v", err)
	}
}
