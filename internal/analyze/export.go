package analyze

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"
)

// The JSON export keeps dive's shape ("layer" and "image" with dive's keys)
// so tools that read `dive --json` keep working, and adds what dive leaves
// out: the layers each wasted file sits in, hints, and each layer's tree.

type exportFile struct {
	Path     string `json:"path"`
	TypeFlag byte   `json:"typeFlag"`
	LinkName string `json:"linkName"`
	Size     int64  `json:"size"`
	FileMode uint32 `json:"fileMode"`
	UID      int    `json:"uid"`
	GID      int    `json:"gid"`
	IsDir    bool   `json:"isDir"`
	Whiteout bool   `json:"whiteout,omitempty"`
}

type exportLayer struct {
	Index     int          `json:"index"`
	ID        string       `json:"id"`
	DigestID  string       `json:"digestId"`
	SizeBytes uint64       `json:"sizeBytes"`
	Command   string       `json:"command"`
	CreatedBy string       `json:"createdBy"`
	DiffID    string       `json:"diffId"`
	FileCount int          `json:"fileCount"`
	Opaque    []string     `json:"opaqueDirs,omitempty"`
	Warnings  []string     `json:"warnings,omitempty"`
	FileList  []exportFile `json:"fileList"`
	// Changes is what the layer did to the filesystem below it, whiteouts
	// and opaque directories applied: every path added, modified or removed.
	Changes []exportChange `json:"changes"`
}

type exportChange struct {
	Path   string `json:"path"`
	Change Diff   `json:"change"`
	Size   int64  `json:"size"`
	IsDir  bool   `json:"isDir"`
}

// exportPath is one path of the final filesystem and the layer that wrote it.
type exportPath struct {
	Path  string `json:"path"`
	Size  int64  `json:"size"`
	IsDir bool   `json:"isDir"`
	Layer int32  `json:"layer"`
}

type exportImage struct {
	SizeBytes         uint64          `json:"sizeBytes"`
	InefficientBytes  uint64          `json:"inefficientBytes"`
	EfficiencyScore   float64         `json:"efficiencyScore"`
	InefficientFiles  []*Inefficiency `json:"fileReference"`
	UserSizeBytes     uint64          `json:"userSizeBytes"`
	UserWastedPercent jsonFloat       `json:"userWastedPercent"`
	Hints             []Hint          `json:"hints"`
	Name              string          `json:"name"`
	Source            string          `json:"source"`
	// Tree is the aggregated filesystem: every path of the final image.
	Tree []exportPath `json:"tree"`
}

// jsonFloat writes NaN and infinities (an image of one layer) as null
// instead of failing the whole export.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if v != v || v > 1e308 || v < -1e308 {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}

// WriteJSON writes the whole analysis as indented JSON. Layers are built
// and written one at a time, so the output never sits whole in memory.
func (r *Report) WriteJSON(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	put := func(prefix string, v any) error {
		b, err := json.MarshalIndent(v, prefix, "  ")
		if err != nil {
			return err
		}
		_, err = bw.Write(b)
		return err
	}
	if _, err := bw.WriteString("{\n  \"layer\": ["); err != nil {
		return err
	}
	for i, l := range r.Layers {
		sep := "\n    "
		if i > 0 {
			sep = ",\n    "
		}
		bw.WriteString(sep)
		if err := put("    ", r.exportLayer(l)); err != nil {
			return err
		}
	}
	if len(r.Layers) > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteString("],\n  \"image\": ")
	if err := put("  ", r.exportImage()); err != nil {
		return err
	}
	bw.WriteString("\n}\n")
	return bw.Flush()
}

func (r *Report) exportImage() exportImage {
	im := exportImage{
		SizeBytes: r.SizeBytes, InefficientBytes: r.WastedBytes, EfficiencyScore: r.Efficiency,
		InefficientFiles: r.Inefficiencies, UserSizeBytes: r.UserSizeBytes,
		UserWastedPercent: jsonFloat(r.UserWastedPercent), Hints: r.Hints, Name: r.Image, Source: r.Source,
		Tree: []exportPath{},
	}
	if im.InefficientFiles == nil {
		im.InefficientFiles = []*Inefficiency{}
	}
	if im.Hints == nil {
		im.Hints = []Hint{}
	}
	if len(r.Layers) > 0 {
		last := len(r.Layers) - 1
		buildView(r.Layers, last, last+1, nil).walkSorted(func(v *ViewNode) {
			im.Tree = append(im.Tree, exportPath{v.Path(), v.Size, v.IsDir(), v.Layer})
		})
	}
	return im
}

func (r *Report) exportLayer(l *Layer) exportLayer {
	el := exportLayer{
		Index: l.Index, ID: strings.TrimPrefix(l.DiffID, "sha256:"), DigestID: l.Digest, SizeBytes: uint64(l.Size),
		Command: l.Command, CreatedBy: l.CreatedBy, DiffID: l.DiffID, FileCount: l.Files,
		Opaque: l.Opaque, Warnings: l.Warnings, FileList: []exportFile{}, Changes: []exportChange{},
	}
	_ = walkChildFirst(l.Root, func(n *Node) error {
		el.FileList = append(el.FileList, exportFile{
			Path: n.Path(), TypeFlag: n.Info.Type, LinkName: n.Info.Linkname, Size: n.Info.Size,
			FileMode: uint32(n.Info.Mode), UID: n.Info.UID, GID: n.Info.GID, IsDir: n.Info.IsDir, Whiteout: n.IsWhiteout(),
		})
		return nil
	})
	buildView(r.Layers, l.Index, l.Index, nil).walkSorted(func(v *ViewNode) {
		if v.Diff != Unmodified {
			el.Changes = append(el.Changes, exportChange{v.Path(), v.Diff, v.Size, v.IsDir()})
		}
	})
	return el
}

// walkSorted visits every node below v (not v) in path order.
func (v *ViewNode) walkSorted(fn func(*ViewNode)) {
	for _, c := range sortedKids(v) {
		fn(c)
		c.walkSorted(fn)
	}
}
