package scan_test

import (
	"log/slog"
	"os"
	"testing"

	scalibrlog "github.com/google/osv-scalibr/log"

	"github.com/berth-dev/berth/internal/scan"
)

func TestMain(m *testing.M) {
	scalibrlog.SetLogger(scan.ScalibrLogger(slog.New(slog.DiscardHandler)))
	os.Exit(m.Run())
}
