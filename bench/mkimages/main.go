// Command mkimages fills a berth store with 1,000 small images (one label
// each, no layers) for bench/service.sh's `images` figure.
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/store"
)

func main() {
	ctx := context.Background()
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mkimages STORE_ROOT")
		os.Exit(2)
	}
	st, err := store.Open(ctx, os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for i := 0; i < 1000; i++ {
		cfgFile := image.NewConfigFile(image.Now())
		cfgFile.Config.Labels = map[string]string{"n": fmt.Sprint(i)}
		cfg, _ := image.MarshalConfig(cfgFile)
		man, _ := image.MarshalManifest(cfg.Descriptor, nil, nil)
		for _, bl := range []image.Blob{cfg, man} {
			if err := st.WriteBlob(ctx, bl.Descriptor.Digest, bl.Descriptor.Size, bytes.NewReader(bl.Bytes)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		if _, err := st.AddImage(ctx, man.Descriptor, fmt.Sprintf("bench/img%d:v1", i)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	st.Close()
}
