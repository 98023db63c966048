package image

import (
	"errors"
	"runtime"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func plat(t *testing.T, s string) v1.Platform {
	t.Helper()
	p, err := v1.ParsePlatform(s)
	if err != nil {
		t.Fatal(err)
	}
	return *p
}

func TestHostPlatform(t *testing.T) {
	p := HostPlatform()
	if p.OS != "linux" || p.Architecture != runtime.GOARCH {
		t.Fatalf("HostPlatform() = %v", p)
	}
	want := map[string]string{"arm64": "v8", "arm": "v7"}[runtime.GOARCH]
	if p.Variant != want {
		t.Errorf("variant %q, want %q", p.Variant, want)
	}
}

func TestParsePlatform(t *testing.T) {
	host := HostPlatform()
	for _, tc := range []struct {
		in   string
		want string // "" for nil
		ok   bool
	}{
		{"", "", true},
		{"linux/amd64", "linux/amd64", true},
		{"linux/arm64/v8", "linux/arm64/v8", true},
		{"linux/arm64", "linux/arm64", true},
		{"linux/x86_64", "linux/amd64", true},
		{"linux/aarch64", "linux/arm64", true},
		{"linux/armhf", "linux/arm/v7", true},
		{"linux/arm", "linux/arm/v7", true},
		{"linux/arm/v6", "linux/arm/v6", true},
		{"Linux/AMD64", "linux/amd64", true},
		{"linux", host.String(), true},
		{"/amd64", "", false},
		{"linux/amd64/v2/x", "", false},
	} {
		got, err := ParsePlatform(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParsePlatform(%q) error %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		s := ""
		if got != nil {
			s = got.String()
		}
		if tc.ok && s != tc.want {
			t.Errorf("ParsePlatform(%q) = %q, want %q", tc.in, s, tc.want)
		}
	}
}

func TestPlatformMatches(t *testing.T) {
	for _, tc := range []struct {
		have, want string
		ok         bool
	}{
		{"linux/amd64", "linux/amd64", true},
		{"linux/386", "linux/amd64", true}, // amd64 runs 32-bit x86
		{"linux/amd64", "linux/386", false},
		{"linux/arm64", "linux/arm64/v8", true}, // arm64 = arm64/v8
		{"linux/arm64/v8", "linux/arm64", true},
		{"linux/arm/v7", "linux/arm64", true}, // arm64 runs 32-bit arm
		{"linux/arm", "linux/arm/v7", true},   // arm means arm/v7
		{"linux/arm/v6", "linux/arm/v7", true},
		{"linux/arm/v5", "linux/arm/v7", true},
		{"linux/arm/v7", "linux/arm/v6", false},
		{"linux/arm/v8", "linux/arm/v7", false},
		{"linux/amd64/v2", "linux/amd64/v3", true},
		{"linux/amd64/v3", "linux/amd64", false},
		{"linux/x86_64", "linux/amd64", true},
		{"windows/amd64", "linux/amd64", false},
		{"linux/s390x", "linux/amd64", false},
	} {
		if got := PlatformMatches(plat(t, tc.have), plat(t, tc.want)); got != tc.ok {
			t.Errorf("PlatformMatches(%s, %s) = %v, want %v", tc.have, tc.want, got, tc.ok)
		}
	}
}

func TestPickManifest(t *testing.T) {
	d := func(hex, p string) v1.Descriptor {
		desc := v1.Descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: v1.Hash{Algorithm: "sha256", Hex: hex}}
		if p != "" {
			pp := plat(t, p)
			desc.Platform = &pp
		}
		return desc
	}
	att := d("att", "unknown/unknown")
	att.Annotations = map[string]string{"vnd.docker.reference.type": "attestation-manifest"}
	nested := d("nested", "linux/amd64")
	nested.MediaType = "application/vnd.oci.image.index.v1+json"
	idx := &v1.IndexManifest{Manifests: []v1.Descriptor{
		nested,
		d("386", "linux/386"),
		d("amd64", "linux/amd64"),
		d("arm5", "linux/arm/v5"),
		d("arm6", "linux/arm/v6"),
		d("arm64", "linux/arm64"),
		att,
	}}
	for _, tc := range []struct {
		want, got string
	}{
		{"linux/amd64", "amd64"}, // exact beats the 386 fallback listed first
		{"linux/386", "386"},
		{"linux/arm64/v8", "arm64"},
		{"linux/arm/v7", "arm6"}, // the newest variant it runs
		{"linux/arm/v6", "arm6"},
		{"linux/arm/v5", "arm5"},
	} {
		w := plat(t, tc.want)
		got, err := PickManifest(idx, &w, nil)
		if err != nil || got.Digest.Hex != tc.got {
			t.Errorf("PickManifest(%s) = %s, %v; want %s", tc.want, got.Digest.Hex, err, tc.got)
		}
	}
	w := plat(t, "linux/amd64")
	got, err := PickManifest(idx, &w, func(d v1.Descriptor) bool { return d.Digest.Hex != "amd64" })
	if err != nil || got.Digest.Hex != "386" {
		t.Errorf("keep: got %s, %v; want the 386 fallback", got.Digest.Hex, err)
	}
	w = plat(t, "linux/s390x")
	if _, err := PickManifest(idx, &w, nil); !errors.Is(err, ErrNoPlatform) || err.Error() != "no matching manifest for linux/s390x in the manifest list entries" {
		t.Errorf("s390x: %v", err)
	}
	// Children without a platform serve the default only.
	bare := &v1.IndexManifest{Manifests: []v1.Descriptor{att, d("bare", "")}}
	if got, err := PickManifest(bare, nil, nil); err != nil || got.Digest.Hex != "bare" {
		t.Errorf("bare default: %s, %v", got.Digest.Hex, err)
	}
	if _, err := PickManifest(bare, &w, nil); err == nil {
		t.Error("bare child picked for an explicit platform")
	}
}
