package report

import (
	"encoding/json"
	"io"
	"sort"
	"strings"

	"github.com/berth-dev/berth/internal/scan"
)

// The JSON report has trivy's shape (SchemaVersion 2, Results per target
// with Class and Type, Vulnerabilities with trivy's field names) so jq
// pipelines written for `trivy image -f json` keep working; berth adds the
// layer, aliases and a summary.
type jsonReport struct {
	SchemaVersion int            `json:"SchemaVersion"`
	CreatedAt     string         `json:"CreatedAt"`
	ArtifactName  string         `json:"ArtifactName"`
	ArtifactType  string         `json:"ArtifactType"`
	Metadata      jsonMetadata   `json:"Metadata"`
	Results       []jsonResult   `json:"Results"`
	Summary       map[string]int `json:"Summary"`
	Ignored       []jsonVuln     `json:"Ignored,omitempty"`
	Notes         []string       `json:"Notes,omitempty"`
	Warnings      []string       `json:"Warnings,omitempty"`
}

type jsonMetadata struct {
	OS      string   `json:"OS,omitempty"`
	Digest  string   `json:"Digest,omitempty"`
	DiffIDs []string `json:"DiffIDs,omitempty"`
}

type jsonResult struct {
	Target          string     `json:"Target"`
	Class           string     `json:"Class"`
	Type            string     `json:"Type"`
	Vulnerabilities []jsonVuln `json:"Vulnerabilities"`
}

type jsonVuln struct {
	VulnerabilityID  string            `json:"VulnerabilityID"`
	Aliases          []string          `json:"Aliases,omitempty"`
	PkgName          string            `json:"PkgName"`
	PkgPath          string            `json:"PkgPath"`
	PkgIdentifier    map[string]string `json:"PkgIdentifier,omitempty"`
	Ecosystem        string            `json:"Ecosystem,omitempty"`
	InstalledVersion string            `json:"InstalledVersion"`
	FixedVersion     string            `json:"FixedVersion,omitempty"`
	Status           string            `json:"Status"`
	Severity         string            `json:"Severity"`
	SeveritySource   string            `json:"SeveritySource,omitempty"`
	CVSSScore        float64           `json:"CVSSScore,omitempty"`
	CVSSVector       string            `json:"CVSSVector,omitempty"`
	Title            string            `json:"Title,omitempty"`
	PrimaryURL       string            `json:"PrimaryURL"`
	Layer            jsonLayer         `json:"Layer"`
}

type jsonLayer struct {
	Index     int    `json:"Index"`
	DiffID    string `json:"DiffID,omitempty"`
	CreatedBy string `json:"CreatedBy,omitempty"`
}

func toJSONVuln(f scan.Finding) jsonVuln {
	v := jsonVuln{
		VulnerabilityID: f.ID, Aliases: f.Aliases, PkgName: f.Package.Name, PkgPath: f.Package.Path,
		Ecosystem: f.Package.Ecosystem, InstalledVersion: f.Package.Version, FixedVersion: f.Fixed, Status: "affected",
		Severity: f.Severity, CVSSScore: f.Score, CVSSVector: f.Vector, Title: f.Title, PrimaryURL: f.URL,
		Layer: jsonLayer{f.Package.Layer.Index, f.Package.Layer.DiffID, f.Package.Layer.CreatedBy},
	}
	if f.Fixed != "" {
		v.Status = "fixed"
	}
	v.SeveritySource = severitySource(f.SeverityFrom)
	if f.Package.PURL != "" {
		v.PkgIdentifier = map[string]string{"PURL": f.Package.PURL}
	}
	return v
}

// classType names a package's result group as trivy does.
func classType(p scan.Package) (class, typ string) {
	switch p.Extractor {
	case "os/dpkg":
		return "os-pkgs", "debian"
	case "os/apk":
		return "os-pkgs", "alpine"
	case "os/rpm":
		return "os-pkgs", "redhat"
	case "go/binary":
		return "lang-pkgs", "gobinary"
	case "javascript/packagejson":
		return "lang-pkgs", "node-pkg"
	case "python/wheelegg":
		return "lang-pkgs", "python-pkg"
	case "java/archive":
		return "lang-pkgs", "jar"
	}
	return "lang-pkgs", p.Extractor
}

// JSON prints the report. Every finding appears once, in the Results group
// of the file its package was found in; groups are ordered by target.
func JSON(w io.Writer, r *Report) error {
	jr := jsonReport{SchemaVersion: 2, CreatedAt: r.Created.UTC().Format("2006-01-02T15:04:05Z"), ArtifactName: r.Target,
		ArtifactType: "container_image", Metadata: jsonMetadata{Digest: r.Digest}, Summary: map[string]int{}, Results: []jsonResult{}}
	for _, s := range scan.Severities {
		jr.Summary[s] = 0
	}
	if r.Inventory != nil {
		jr.Metadata.OS = r.Inventory.OS
		jr.Warnings = r.Inventory.Warnings
		for _, l := range r.Inventory.Layers {
			if l.DiffID != "" {
				jr.Metadata.DiffIDs = append(jr.Metadata.DiffIDs, l.DiffID)
			}
		}
		if len(jr.Metadata.DiffIDs) == 0 {
			jr.ArtifactType = "filesystem"
		}
	}
	groups := map[string]*jsonResult{}
	for _, f := range r.Result.Findings {
		jr.Summary[f.Severity]++
		class, typ := classType(f.Package)
		target := f.Package.Path
		if class == "os-pkgs" && r.Inventory != nil && r.Inventory.OS != "" {
			target = r.Target + " (" + r.Inventory.OS + ")"
		}
		g := groups[target+"\x00"+typ]
		if g == nil {
			g = &jsonResult{Target: target, Class: class, Type: typ}
			groups[target+"\x00"+typ] = g
		}
		g.Vulnerabilities = append(g.Vulnerabilities, toJSONVuln(f))
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		jr.Results = append(jr.Results, *groups[k])
	}
	for _, f := range r.Result.Ignored {
		jr.Ignored = append(jr.Ignored, toJSONVuln(f))
	}
	jr.Notes = r.Result.Notes
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(jr)
}

// severitySource names, as trivy's SeveritySource does, whose rating a
// finding carries, from the id of the record it was read from: GitHub's
// (GHSA-), NVD's (CVE- records, and DEBIAN-CVE- records, which carry NVD's
// score), otherwise the advisory's own database (go, ubuntu, alpine, …).
func severitySource(id string) string {
	prefix, _, ok := strings.Cut(id, "-")
	if !ok {
		return ""
	}
	switch prefix = strings.ToLower(prefix); {
	case prefix == "ghsa":
		return "ghsa"
	case prefix == "cve", strings.HasPrefix(id, "DEBIAN-CVE-"):
		return "nvd"
	}
	return prefix
}
