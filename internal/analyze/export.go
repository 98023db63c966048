package analyze

import (
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

// WriteJSON writes the whole analysis as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	out := struct {
		Layer []exportLayer `json:"layer"`
		Image exportImage   `json:"image"`
	}{Image: exportImage{
		SizeBytes: r.SizeBytes, InefficientBytes: r.WastedBytes, EfficiencyScore: r.Efficiency,
		InefficientFiles: r.Inefficiencies, UserSizeBytes: r.UserSizeBytes,
		UserWastedPercent: jsonFloat(r.UserWastedPercent), Hints: r.Hints, Name: r.Image, Source: r.Source,
	}}
	if out.Image.InefficientFiles == nil {
		out.Image.InefficientFiles = []*Inefficiency{}
	}
	if out.Image.Hints == nil {
		out.Image.Hints = []Hint{}
	}
	for _, l := range r.Layers {
		el := exportLayer{
			Index: l.Index, ID: strings.TrimPrefix(l.DiffID, "sha256:"), DigestID: l.Digest, SizeBytes: uint64(l.Size),
			Command: l.Command, CreatedBy: l.CreatedBy, DiffID: l.DiffID, FileCount: l.Files,
			Opaque: l.Opaque, Warnings: l.Warnings, FileList: []exportFile{},
		}
		_ = walkChildFirst(l.Root, func(n *Node) error {
			el.FileList = append(el.FileList, exportFile{
				Path: n.Path(), TypeFlag: n.Info.Type, LinkName: n.Info.Linkname, Size: n.Info.Size,
				FileMode: uint32(n.Info.Mode), UID: n.Info.UID, GID: n.Info.GID, IsDir: n.Info.IsDir, Whiteout: n.IsWhiteout(),
			})
			return nil
		})
		out.Layer = append(out.Layer, el)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
