package image

import (
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/untrusted"
	"runtime"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// HostPlatform is this machine's platform as Docker names it: linux and
// Go's architecture, with the variant Docker reports by default (v8 on
// arm64, v7 on 32-bit arm). Every default "this machine's platform" in
// berth is this one.
func HostPlatform() v1.Platform {
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	switch runtime.GOARCH {
	case "arm64":
		p.Variant = "v8"
	case "arm":
		p.Variant = "v7"
	}
	return p
}

// ParsePlatform reads a --platform value: os[/arch[/variant]], with the
// architecture names Docker accepts (x86_64, aarch64, armhf, …). An empty
// string is nil (this machine's platform); "linux" alone means this
// machine's architecture, as for docker pull.
func ParsePlatform(s string) (*v1.Platform, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	p, err := v1.ParsePlatform(s)
	if err != nil {
		return nil, fmt.Errorf("invalid platform %s: %w", untrusted.Quote(s), err)
	}
	if p.OS == "" {
		return nil, fmt.Errorf("invalid platform %s: no operating system", untrusted.Quote(s))
	}
	p.OS = strings.ToLower(p.OS)
	if p.Architecture == "" {
		h := HostPlatform()
		p.Architecture, p.Variant = h.Architecture, h.Variant
	}
	n := NormalizePlatform(*p)
	// Keep the variant as written (arm64/v8 stays v8) but take the
	// canonical architecture and the variant an alias implies.
	p.Architecture = n.Architecture
	if p.Variant == "" && n.Variant != "" && p.Architecture != "arm64" {
		p.Variant = n.Variant
	}
	return p, nil
}

// NormalizePlatform returns p in the canonical spelling platforms are
// compared in (containerd's rules, which Docker uses): aliases resolved
// (x86_64 → amd64, aarch64 → arm64, armhf → arm/v7, armel → arm/v6,
// i386 → 386), arm64's default variant v8 and amd64's v1 dropped, and
// 32-bit arm's missing variant made v7.
func NormalizePlatform(p v1.Platform) v1.Platform {
	q := v1.Platform{OS: strings.ToLower(p.OS), Architecture: strings.ToLower(p.Architecture), Variant: strings.ToLower(p.Variant), OSVersion: p.OSVersion}
	switch q.Architecture {
	case "i386":
		q.Architecture, q.Variant = "386", ""
	case "x86_64", "x86-64", "amd64":
		q.Architecture = "amd64"
		if q.Variant == "v1" {
			q.Variant = ""
		}
	case "aarch64", "arm64":
		q.Architecture = "arm64"
		if q.Variant == "8" || q.Variant == "v8" {
			q.Variant = ""
		}
	case "armhf":
		q.Architecture, q.Variant = "arm", "v7"
	case "armel":
		q.Architecture, q.Variant = "arm", "v6"
	case "arm":
		switch q.Variant {
		case "", "7":
			q.Variant = "v7"
		case "5", "6", "8":
			q.Variant = "v" + q.Variant
		}
	}
	return q
}

// compatible lists, best first, the platforms a machine of platform want
// runs: want itself, then older variants of its architecture (arm/v7 runs
// v6 and v5, amd64/v3 runs v2 and v1), 32-bit x86 on amd64 and 32-bit arm
// on arm64 — containerd's platform vector, which `docker pull` follows.
func compatible(want v1.Platform) []v1.Platform {
	w := NormalizePlatform(want)
	out := []v1.Platform{w}
	with := func(arch, variant string) v1.Platform {
		return v1.Platform{OS: w.OS, Architecture: arch, Variant: variant, OSVersion: w.OSVersion}
	}
	switch w.Architecture {
	case "amd64":
		if n, err := strconv.Atoi(strings.TrimPrefix(w.Variant, "v")); err == nil {
			for n--; n >= 2; n-- {
				out = append(out, with("amd64", "v"+strconv.Itoa(n)))
			}
			if w.Variant != "" {
				out = append(out, with("amd64", ""))
			}
		}
		out = append(out, with("386", ""))
	case "arm":
		if n, err := strconv.Atoi(strings.TrimPrefix(w.Variant, "v")); err == nil {
			for n--; n >= 5; n-- {
				out = append(out, with("arm", "v"+strconv.Itoa(n)))
			}
		}
	case "arm64":
		if w.Variant == "" {
			for _, v := range []string{"v8", "v7", "v6", "v5"} {
				out = append(out, with("arm", v))
			}
		}
	}
	return out
}

// rank is how well a machine of platform want runs have: 0 for a perfect
// match, larger for a fallback, -1 for not at all.
func rank(have, want v1.Platform) int {
	h := NormalizePlatform(have)
	for i, c := range compatible(want) {
		if h.OS == c.OS && h.Architecture == c.Architecture && h.Variant == c.Variant &&
			(c.OSVersion == "" || h.OSVersion == c.OSVersion) {
			return i
		}
	}
	return -1
}

// PlatformMatches reports whether an image for platform have runs on a
// machine of platform want (Docker's rules; see PickManifest).
func PlatformMatches(have, want v1.Platform) bool { return rank(have, want) >= 0 }

// ConfigMatches reports whether the image whose config is cfg runs on a
// machine of platform want.
func ConfigMatches(cfg *v1.ConfigFile, want v1.Platform) bool {
	return PlatformMatches(v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant, OSVersion: cfg.OSVersion}, want)
}

// ErrNoPlatform is wrapped by PickManifest when an index has no image for
// the platform asked for.
var ErrNoPlatform = errors.New("no matching manifest")

// PickManifest chooses the image manifest of an index for platform want
// (nil: this machine's) as Docker does: the exact platform first, then what
// that platform also runs (arm64 = arm64/v8; arm means arm/v7, which also
// runs v6 and v5; amd64 also runs 386), in that order, earlier entries
// winning ties. Children that are not image manifests, and BuildKit's
// attestation manifests (unknown/unknown), are never picked. When want is
// nil and no child names a platform that matches, the first image without
// a platform is taken (OCI layouts written by some tools have none). keep,
// when not nil, skips children it returns false for (the store: children
// it does not hold).
func PickManifest(idx *v1.IndexManifest, want *v1.Platform, keep func(v1.Descriptor) bool) (v1.Descriptor, error) {
	w := HostPlatform()
	if want != nil {
		w = *want
	}
	best, bestRank := -1, -1
	fallback := -1
	for i, d := range idx.Manifests {
		if (d.MediaType != "" && !d.MediaType.IsImage()) || IsAttestation(d) {
			continue
		}
		if keep != nil && !keep(d) {
			continue
		}
		if d.Platform == nil {
			if fallback < 0 {
				fallback = i
			}
			continue
		}
		if r := rank(*d.Platform, w); r >= 0 && (best < 0 || r < bestRank) {
			best, bestRank = i, r
		}
	}
	switch {
	case best >= 0:
		return idx.Manifests[best], nil
	case fallback >= 0 && want == nil:
		return idx.Manifests[fallback], nil
	}
	return v1.Descriptor{}, fmt.Errorf("%w for %s in the manifest list entries", ErrNoPlatform, w.String())
}

// IsAttestation recognises BuildKit's attestation manifests, which carry
// the platform unknown/unknown and must never be picked as the runnable
// image.
func IsAttestation(d v1.Descriptor) bool {
	return d.Annotations["vnd.docker.reference.type"] == "attestation-manifest"
}
