package scan

import (
	"fmt"

	"github.com/google/osv-scalibr/binary/proto/metadata"
	"github.com/google/osv-scalibr/extractor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// LayerRef names the layer a package came from.
type LayerRef struct {
	Index     int    `json:"index"`
	DiffID    string `json:"diff_id,omitempty"`
	CreatedBy string `json:"created_by,omitempty"`
}

// Package is one installed package found in an image or root filesystem.
type Package struct {
	Name      string   `json:"name"`
	Version   string   `json:"version"`
	Ecosystem string   `json:"ecosystem,omitempty"` // OSV ecosystem with release, e.g. "Debian:12"
	PURL      string   `json:"purl,omitempty"`
	Path      string   `json:"path"`      // the file it was found in
	Extractor string   `json:"extractor"` // the osv-scalibr plugin that found it
	Layer     LayerRef `json:"layer"`

	pkg *extractor.Package
}

// cachedPackage is a package as the layer cache stores it: scalibr's fields
// plus its metadata as a protobuf Any, which scalibr knows how to turn back
// into the typed metadata its matcher reads (source names, distro release).
type cachedPackage struct {
	Name      string   `json:"n"`
	Version   string   `json:"v"`
	PURLType  string   `json:"t"`
	Locations []string `json:"l,omitempty"`
	Repo      string   `json:"r,omitempty"`
	Commit    string   `json:"c,omitempty"`
	Meta      []byte   `json:"m,omitempty"`
	Path      string   `json:"p"`
	Extractor string   `json:"x"`
}

func toCached(p *extractor.Package, path, ex string) (cachedPackage, error) {
	cp := cachedPackage{Name: p.Name, Version: p.Version, PURLType: p.PURLType, Path: path, Extractor: ex}
	if p.Location.Descriptor != nil && p.Location.Descriptor.File != nil {
		cp.Locations = []string{p.Location.Descriptor.File.Path}
	}
	if p.SourceCode != nil {
		cp.Repo, cp.Commit = p.SourceCode.Repo, p.SourceCode.Commit
	}
	if p.Metadata != nil {
		a, err := metadata.StructToProto(p.Metadata)
		if err != nil {
			return cp, fmt.Errorf("encoding metadata: %w", err)
		}
		if a != nil {
			cp.Meta, err = proto.Marshal(a)
			if err != nil {
				return cp, fmt.Errorf("encoding metadata: %w", err)
			}
		}
	}
	return cp, nil
}

func (cp cachedPackage) toPackage() (*extractor.Package, error) {
	p := &extractor.Package{Name: cp.Name, Version: cp.Version, PURLType: cp.PURLType, Plugins: []string{cp.Extractor}}
	if len(cp.Locations) > 0 {
		p.Location = extractor.LocationFromPath(cp.Locations[0])
	} else {
		p.Location = extractor.LocationFromPath(cp.Path)
	}
	if cp.Repo != "" || cp.Commit != "" {
		p.SourceCode = &extractor.SourceCodeIdentifier{Repo: cp.Repo, Commit: cp.Commit}
	}
	if len(cp.Meta) > 0 {
		a := &anypb.Any{}
		if err := proto.Unmarshal(cp.Meta, a); err != nil {
			return nil, fmt.Errorf("decoding cached metadata of %s: %w", cp.Name, err)
		}
		m, err := metadata.ProtoToStruct(a)
		if err != nil {
			return nil, fmt.Errorf("decoding cached metadata of %s: %w", cp.Name, err)
		}
		p.Metadata = m
	}
	return p, nil
}

func newPackage(cp cachedPackage, layer LayerRef) (Package, error) {
	p, err := cp.toPackage()
	if err != nil {
		return Package{}, err
	}
	out := Package{Name: p.Name, Version: p.Version, Path: cp.Path, Extractor: cp.Extractor, Layer: layer, pkg: p}
	if p.PURLType == "golang" && p.Name == "go" {
		out.Name = "stdlib" // the Go toolchain, as the Go vulnerability database names it
	}
	if eco := p.Ecosystem(); !eco.IsEmpty() {
		out.Ecosystem = eco.String()
	}
	if u := p.PURL(); u != nil {
		out.PURL = u.String()
	}
	return out, nil
}
