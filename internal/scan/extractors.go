package scan

import (
	"fmt"
	"sort"
	"strings"

	cpb "github.com/google/osv-scalibr/binary/proto/config_go_proto"
	"github.com/google/osv-scalibr/extractor/filesystem"
	"github.com/google/osv-scalibr/extractor/filesystem/language/golang/gobinary"
	javaarchive "github.com/google/osv-scalibr/extractor/filesystem/language/java/archive"
	"github.com/google/osv-scalibr/extractor/filesystem/language/javascript/packagejson"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/wheelegg"
	"github.com/google/osv-scalibr/extractor/filesystem/language/ruby/gemspec"
	"github.com/google/osv-scalibr/extractor/filesystem/language/rust/cargoauditable"
	"github.com/google/osv-scalibr/extractor/filesystem/language/rust/cargolock"
	"github.com/google/osv-scalibr/extractor/filesystem/os/apk"
	"github.com/google/osv-scalibr/extractor/filesystem/os/dpkg"
	"github.com/google/osv-scalibr/extractor/filesystem/os/rpm"
	"github.com/ossf/osv-schema/bindings/go/osvconstants"
)

// The extractors berth runs. Each is osv-scalibr's; berth parses no package
// database itself.
var extractorCtors = []func(*cpb.PluginConfig) (filesystem.Extractor, error){
	dpkg.New, apk.New, rpm.New, gobinary.New, packagejson.New, wheelegg.New, javaarchive.New,
	gemspec.New, cargolock.New, cargoauditable.New,
}

func newExtractors() ([]filesystem.Extractor, error) {
	cfg := &cpb.PluginConfig{}
	out := make([]filesystem.Extractor, 0, len(extractorCtors))
	for _, c := range extractorCtors {
		e, err := c(cfg)
		if err != nil {
			return nil, fmt.Errorf("creating extractor: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// extractorsKey names the extractor set and versions; it is part of every
// layer cache key so that a berth with different extractors rescans.
func extractorsKey(exs []filesystem.Extractor) string {
	parts := make([]string, 0, len(exs))
	for _, e := range exs {
		parts = append(parts, fmt.Sprintf("%s@%d", e.Name(), e.Version()))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// Ecosystems are the OSV ecosystems (base names, as osv.dev names its
// export directories) the extractors above report packages in: the
// distributions dpkg, apk and rpm databases identify, and the languages.
// `berth scan db update` fetches these.
var Ecosystems = []string{
	string(osvconstants.EcosystemAlmaLinux), string(osvconstants.EcosystemAlpaquita), string(osvconstants.EcosystemAlpine),
	string(osvconstants.EcosystemAzureLinux), string(osvconstants.EcosystemBellSoftHardenedContainers),
	string(osvconstants.EcosystemChainguard), string(osvconstants.EcosystemCleanStart), string(osvconstants.EcosystemCratesIO),
	string(osvconstants.EcosystemDebian),
	string(osvconstants.EcosystemGo), string(osvconstants.EcosystemMageia), string(osvconstants.EcosystemMaven),
	string(osvconstants.EcosystemMinimOS), string(osvconstants.EcosystemNPM), string(osvconstants.EcosystemOpenEuler),
	string(osvconstants.EcosystemOpenSUSE), string(osvconstants.EcosystemPyPI), string(osvconstants.EcosystemRedHat),
	string(osvconstants.EcosystemRockyLinux), string(osvconstants.EcosystemRubyGems), string(osvconstants.EcosystemSUSE),
	string(osvconstants.EcosystemUbuntu),
	string(osvconstants.EcosystemWolfi),
}

// EcosystemsOf lists, sorted, the base ecosystems of inv's packages: the
// exports a scan of it needs.
func EcosystemsOf(inv *Inventory) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range inv.Packages {
		base, _, _ := strings.Cut(p.Ecosystem, ":")
		if base != "" && !seen[base] {
			seen[base] = true
			out = append(out, base)
		}
	}
	sort.Strings(out)
	return out
}
