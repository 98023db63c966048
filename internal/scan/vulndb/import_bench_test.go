package vulndb_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/scan/scantest"
	"github.com/berth-dev/berth/internal/scan/vulndb"
)

// BenchmarkImportDebianExport imports a 20,000-record Debian export in
// osv.dev's shape; records/s is the figure the first scan depends on.
func BenchmarkImportDebianExport(b *testing.B) {
	z, err := scantest.ExportZip(scantest.DebianExport(nil, 20000))
	if err != nil {
		b.Fatal(err)
	}
	zipPath := filepath.Join(b.TempDir(), "all.zip")
	if err := os.WriteFile(zipPath, z, 0o644); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dbPath := filepath.Join(b.TempDir(), "vuln.db")
		s, err := vulndb.Import(context.Background(), dbPath, zipPath, nil)
		if err != nil || s.Records != 20000 {
			b.Fatalf("%d records, %v", s.Records, err)
		}
	}
	b.ReportMetric(float64(20000*b.N)/b.Elapsed().Seconds(), "records/s")
}
