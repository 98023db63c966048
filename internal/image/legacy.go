package image

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// LegacyLayer is one layer's json of a Docker v1 archive (before Docker
// 1.10: `<id>/json` beside `<id>/layer.tar`, no manifest.json): the image
// as it stood after that layer, with the id of the layer below.
type LegacyLayer struct {
	ID     string
	Parent string
	raw    []byte
	hist   legacyHistory
}

// legacyHistory is a history entry in the field order Docker's image
// package marshals it, so that configs made from legacy layers hash to the
// image IDs Docker gives them.
type legacyHistory struct {
	Created    time.Time `json:"created"`
	Author     string    `json:"author,omitempty"`
	CreatedBy  string    `json:"created_by,omitempty"`
	Comment    string    `json:"comment,omitempty"`
	EmptyLayer bool      `json:"empty_layer,omitempty"`
}

// ParseLegacyLayer reads a v1 layer json.
func ParseLegacyLayer(raw []byte) (LegacyLayer, error) {
	var j struct {
		ID              string    `json:"id"`
		Parent          string    `json:"parent"`
		Created         time.Time `json:"created"`
		Author          string    `json:"author"`
		Comment         string    `json:"comment"`
		ContainerConfig struct {
			Cmd json.RawMessage
		} `json:"container_config"`
	}
	if err := json.Unmarshal(raw, &j); err != nil {
		return LegacyLayer{}, fmt.Errorf("parsing legacy layer json: %w", err)
	}
	// Docker's StrSlice: a list, or one string.
	var cmd []string
	if json.Unmarshal(j.ContainerConfig.Cmd, &cmd) != nil {
		var one string
		if json.Unmarshal(j.ContainerConfig.Cmd, &one) == nil {
			cmd = []string{one}
		}
	}
	return LegacyLayer{
		ID:     j.ID,
		Parent: j.Parent,
		raw:    raw,
		// As Docker's v1.HistoryFromConfig: the command that made the
		// layer is the one its container ran.
		hist: legacyHistory{Created: j.Created, Author: j.Author, CreatedBy: strings.Join(cmd, " "), Comment: j.Comment},
	}, nil
}

// LegacyConfig makes the image config of the top layer of chain (its
// layers from the base up, diffIDs theirs) the way Docker's loader does
// (image/v1.MakeConfigFromV1Config): the top json with the v1-only keys
// removed and rootfs and history added, keys sorted. The bytes are Docker's,
// so the config digest — the image ID — is the one `docker load` gives.
//
// Docker re-encodes jsons written before Docker 1.8.3 through its own
// struct first; berth keeps them as written, so such images get another ID.
func LegacyConfig(chain []LegacyLayer, diffIDs []v1.Hash) ([]byte, error) {
	if len(chain) == 0 || len(chain) != len(diffIDs) {
		return nil, fmt.Errorf("legacy image has %d layers and %d diff IDs", len(chain), len(diffIDs))
	}
	var c map[string]*json.RawMessage
	if err := json.Unmarshal(chain[len(chain)-1].raw, &c); err != nil {
		return nil, fmt.Errorf("parsing legacy layer json: %w", err)
	}
	for _, k := range []string{"id", "parent", "Size", "parent_id", "layer_id", "throwaway"} {
		delete(c, k)
	}
	hist := make([]legacyHistory, len(chain))
	ids := make([]string, len(diffIDs))
	for i, l := range chain {
		hist[i] = l.hist
		ids[i] = diffIDs[i].String()
	}
	rootfs, err := json.Marshal(struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	}{"layers", ids})
	if err != nil {
		return nil, err
	}
	h, err := json.Marshal(hist)
	if err != nil {
		return nil, err
	}
	r, hr := json.RawMessage(rootfs), json.RawMessage(h)
	c["rootfs"], c["history"] = &r, &hr
	return json.Marshal(c)
}
