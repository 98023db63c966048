package cli

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/scan/report"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// inventorySBOM is build's SBOMMaker: the SPDX document of berth's own
// package inventory, what `berth sbom --format spdx-json` prints.
type inventorySBOM struct{ a *app }

func (s inventorySBOM) SBOM(ctx context.Context, img v1.Image, name string) (json.RawMessage, error) {
	rep, err := s.a.imageInventory(ctx, name, img, false)
	if err != nil {
		return nil, err
	}
	// SOURCE_DATE_EPOCH, when set, dates the document too.
	rep.Created = image.Now()
	var b bytes.Buffer
	if err := report.SPDX(&b, rep); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(b.Bytes()), nil
}
