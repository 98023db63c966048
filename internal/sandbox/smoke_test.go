package sandbox

import (
	"bytes"
	"context"
	"testing"
)

func TestSmoke(t *testing.T) {
	lowers := baseLowers(t)
	var out, layer bytes.Buffer
	err := Run(context.Background(), Spec{Lowers: lowers, Args: []string{"/bin/sh", "-c", "echo hi; id; ls /; mkdir -p /x/y; echo z > /x/y/z; rm /old; rm -rf /var/lib/data; mkdir /var/lib/data; echo n > /var/lib/data/n; cat /proc/self/status | grep Cap; hostname"}, Stdout: &out, Stderr: &out, TempDir: t.TempDir()}, &layer)
	t.Logf("out:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	_, order := readLayer(t, layer.Bytes())
	t.Logf("layer: %v", order)
}
