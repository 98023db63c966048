package sandbox

import (
	"context"
	"io"
	"testing"
)

// BenchmarkRunTrue measures the fixed cost of a RUN step: namespaces,
// overlay, mounts, the command, the (empty) layer, cleanup.
// "unconfined" is the same without the seccomp filter, whose cost is the
// difference.
func BenchmarkRunTrue(b *testing.B) {
	lowers := baseLowers(b)
	tmp := b.TempDir()
	for _, bc := range []struct {
		name    string
		seccomp Seccomp
	}{{"default", Seccomp{}}, {"unconfined", Seccomp{Unconfined: true}}} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if err := Run(context.Background(), Spec{Lowers: lowers, Args: []string{"/bin/true"}, TempDir: tmp, Seccomp: bc.seccomp}, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRunFiles is the reference step: 2,000 files and a 50 MiB
// file, layer written out in full.
func BenchmarkRunFiles(b *testing.B) {
	lowers := baseLowers(b)
	tmp := b.TempDir()
	script := "mkdir /data && cd /data && for i in $(seq 1 2000); do echo $i > f$i; done && dd if=/dev/zero of=/data/big bs=1M count=50 2>/dev/null"
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := Run(context.Background(), Spec{Lowers: lowers, Args: []string{"/bin/sh", "-c", script}, TempDir: tmp}, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
