package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/uuid"

	"github.com/berth-dev/berth/internal/scan"
)

// bomRef is a package's stable identity inside a document.
func bomRef(p scan.Package) string {
	id := p.PURL
	if id == "" {
		id = p.Name + "@" + p.Version
	}
	return id + "?path=" + p.Path
}

// CycloneDX prints a CycloneDX 1.6 JSON BOM: one component per package (with
// its layer as properties) and, when withVulns, one vulnerability per finding.
func CycloneDX(w io.Writer, r *Report, withVulns bool) error {
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + uuid.NewSHA1(uuid.NameSpaceURL, []byte(r.Target+r.Digest+r.Created.String())).String()
	bom.Metadata = &cdx.Metadata{
		Timestamp: r.Created.UTC().Format("2006-01-02T15:04:05Z"),
		Tools:     &cdx.ToolsChoice{Components: &[]cdx.Component{{Type: cdx.ComponentTypeApplication, Name: r.Tool, Version: r.Version}}},
		Component: &cdx.Component{BOMRef: r.Target, Type: cdx.ComponentTypeContainer, Name: r.Target, Version: r.Digest},
	}
	var comps []cdx.Component
	seen := map[string]bool{}
	if r.Inventory != nil {
		for _, p := range r.Inventory.Packages {
			ref := bomRef(p)
			if seen[ref] {
				continue
			}
			seen[ref] = true
			props := []cdx.Property{
				{Name: "berth:package:path", Value: p.Path},
				{Name: "berth:layer:index", Value: fmt.Sprint(p.Layer.Index)},
			}
			if p.Layer.DiffID != "" {
				props = append(props, cdx.Property{Name: "berth:layer:diff_id", Value: p.Layer.DiffID})
			}
			if p.Layer.CreatedBy != "" {
				props = append(props, cdx.Property{Name: "berth:layer:created_by", Value: p.Layer.CreatedBy})
			}
			comps = append(comps, cdx.Component{BOMRef: ref, Type: cdx.ComponentTypeLibrary, Name: p.Name, Version: p.Version, PackageURL: p.PURL, Properties: &props})
		}
	}
	bom.Components = &comps
	if withVulns {
		vulns := []cdx.Vulnerability{}
		for _, f := range r.Result.Findings {
			v := cdx.Vulnerability{
				BOMRef:      f.ID + "/" + bomRef(f.Package),
				ID:          f.ID,
				Source:      &cdx.Source{Name: "osv", URL: f.URL},
				Description: f.Title,
				Affects:     &[]cdx.Affects{{Ref: bomRef(f.Package)}},
			}
			rating := cdx.VulnerabilityRating{Severity: cdx.Severity(strings.ToLower(f.Severity))}
			if f.Vector != "" {
				score := f.Score
				rating.Score, rating.Vector, rating.Method = &score, f.Vector, scoringMethod(f.Vector)
			}
			v.Ratings = &[]cdx.VulnerabilityRating{rating}
			if len(f.Aliases) > 0 {
				refs := make([]cdx.VulnerabilityReference, 0, len(f.Aliases))
				for _, a := range f.Aliases {
					refs = append(refs, cdx.VulnerabilityReference{ID: a, Source: &cdx.Source{Name: "osv", URL: "https://osv.dev/vulnerability/" + a}})
				}
				v.References = &refs
			}
			if f.Fixed != "" {
				v.Recommendation = "Upgrade " + f.Package.Name + " to " + f.Fixed
			}
			vulns = append(vulns, v)
		}
		bom.Vulnerabilities = &vulns
	}
	return cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON).SetPretty(true).EncodeVersion(bom, cdx.SpecVersion1_6)
}

func scoringMethod(vec string) cdx.ScoringMethod {
	switch {
	case strings.HasPrefix(vec, "CVSS:4"):
		return cdx.ScoringMethodCVSSv4
	case strings.HasPrefix(vec, "CVSS:3.1"):
		return cdx.ScoringMethodCVSSv31
	case strings.HasPrefix(vec, "CVSS:3"):
		return cdx.ScoringMethodCVSSv3
	}
	return cdx.ScoringMethodCVSSv2
}

// SPDX 2.3 JSON, written directly: the document is small and its shape fixed.
type spdxDoc struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreation       `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreation struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	Name             string       `json:"name"`
	SPDXID           string       `json:"SPDXID"`
	VersionInfo      string       `json:"versionInfo,omitempty"`
	DownloadLocation string       `json:"downloadLocation"`
	FilesAnalyzed    bool         `json:"filesAnalyzed"`
	PrimaryPurpose   string       `json:"primaryPackagePurpose,omitempty"`
	SourceInfo       string       `json:"sourceInfo,omitempty"`
	Comment          string       `json:"comment,omitempty"`
	ExternalRefs     []spdxExtRef `json:"externalRefs,omitempty"`
}

type spdxExtRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
	Comment  string `json:"comment,omitempty"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

// SPDX prints an SPDX 2.3 JSON document. SPDX has no vulnerability section;
// each finding becomes a SECURITY "advisory" external reference on its
// package, so the document carries the same findings as the other formats.
func SPDX(w io.Writer, r *Report) error {
	doc := spdxDoc{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT", Name: r.Target,
		DocumentNamespace: "https://berth.dev/spdx/" + uuid.NewSHA1(uuid.NameSpaceURL, []byte(r.Target+r.Digest+r.Created.String())).String(),
		CreationInfo:      spdxCreation{Created: r.Created.UTC().Format("2006-01-02T15:04:05Z"), Creators: []string{"Tool: " + r.Tool + "-" + r.Version}},
	}
	root := spdxPackage{Name: r.Target, SPDXID: "SPDXRef-Image", VersionInfo: r.Digest, DownloadLocation: "NOASSERTION", PrimaryPurpose: "CONTAINER"}
	doc.Packages = append(doc.Packages, root)
	doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image"})
	byRef := map[string][]scan.Finding{}
	for _, f := range r.Result.Findings {
		byRef[bomRef(f.Package)] = append(byRef[bomRef(f.Package)], f)
	}
	seen := map[string]bool{}
	if r.Inventory != nil {
		for i, p := range r.Inventory.Packages {
			ref := bomRef(p)
			if seen[ref] {
				continue
			}
			seen[ref] = true
			sp := spdxPackage{
				Name: p.Name, SPDXID: fmt.Sprintf("SPDXRef-Package-%d", i), VersionInfo: p.Version, DownloadLocation: "NOASSERTION",
				PrimaryPurpose: "LIBRARY", SourceInfo: "found in " + p.Path + " by " + p.Extractor,
				Comment: "layer " + layerText(p.Layer),
			}
			if p.PURL != "" {
				sp.ExternalRefs = append(sp.ExternalRefs, spdxExtRef{Category: "PACKAGE-MANAGER", Type: "purl", Locator: p.PURL})
			}
			fs := byRef[ref]
			sort.SliceStable(fs, func(a, b int) bool { return fs[a].ID < fs[b].ID })
			for _, f := range fs {
				sp.ExternalRefs = append(sp.ExternalRefs, spdxExtRef{Category: "SECURITY", Type: "advisory", Locator: f.URL, Comment: f.ID + " " + f.Severity})
			}
			doc.Packages = append(doc.Packages, sp)
			doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-Image", "CONTAINS", sp.SPDXID})
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
