// Command mkimages fills a berth store with N small images (one label each,
// no layers, named bench/imgI:v1): the store of the `images` benchmarks
// (bench/service.sh, BenchmarkImages1000, BenchmarkDockerImages1000).
//
//	go run ./bench/mkimages [-n 1000] STORE_ROOT
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/store"
)

func main() {
	ctx := context.Background()
	n := flag.Int("n", 1000, "how many images")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: mkimages [-n N] STORE_ROOT")
		os.Exit(2)
	}
	st, err := store.Open(ctx, flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for i := 0; i < *n; i++ {
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
