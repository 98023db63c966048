// Command divegen writes the docker archives bench/dive.sh measures:
//
//	divegen big FILE     ~1 GiB, 8 layers, 20,000 small files plus one large file per layer
//	divegen many FILE    50,000 small files over 4 layers
//	divegen random FILE SEED   a small image of random adds, rewrites, whiteouts,
//	                           opaque dirs, links and dirs turned into files
//
// Both carry waste (files deleted and overwritten by later layers) so the
// analysis has work to do.
package main

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"

	"github.com/berth-dev/berth/internal/analyze/imagetest"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: divegen big|many FILE | divegen random FILE SEED")
		os.Exit(2)
	}
	var layers []imagetest.Layer
	switch os.Args[1] {
	case "big":
		layers = gen(8, 2500, 124<<20)
	case "many":
		layers = gen(4, 12500, 0)
	case "random":
		seed, err := strconv.Atoi(os.Args[3])
		if err != nil {
			fmt.Fprintln(os.Stderr, "divegen: bad seed")
			os.Exit(2)
		}
		layers = random(seed)
	default:
		fmt.Fprintln(os.Stderr, "usage: divegen big|many FILE")
		os.Exit(2)
	}
	if err := imagetest.WriteDockerArchive(os.Args[2], "bench:latest", filepath.Dir(os.Args[2]), layers); err != nil {
		fmt.Fprintln(os.Stderr, "divegen:", err)
		os.Exit(1)
	}
}

// gen makes n layers of `files` small files (1-4 KiB) in 50 directories
// each, plus one file of `big` bytes; every layer above the first deletes
// the previous layer's big file and rewrites 100 files of the layer below.
func gen(n, files int, big int64) []imagetest.Layer {
	var out []imagetest.Layer
	for l := 0; l < n; l++ {
		var fs []imagetest.File
		for d := 0; d < 50; d++ {
			fs = append(fs, imagetest.File{Path: fmt.Sprintf("layer%d/dir%02d/", l, d), Dir: true})
		}
		for i := 0; i < files; i++ {
			fs = append(fs, imagetest.File{
				Path: fmt.Sprintf("layer%d/dir%02d/file%05d.txt", l, i%50, i),
				Size: int64(1024 + (i*131)%3072), Seed: byte(l*31 + i),
			})
		}
		if big > 0 {
			fs = append(fs, imagetest.File{Path: fmt.Sprintf("big/blob%d.bin", l), Size: big, Seed: byte(l)})
		}
		if l > 0 {
			if big > 0 {
				fs = append(fs, imagetest.Whiteout(fmt.Sprintf("big/blob%d.bin", l-1)))
			}
			for i := 0; i < 100; i++ {
				fs = append(fs, imagetest.File{
					Path: fmt.Sprintf("layer%d/dir%02d/file%05d.txt", l-1, i%50, i),
					Size: 2048, Seed: byte(l + i),
				})
			}
		}
		out = append(out, imagetest.Layer{CreatedBy: fmt.Sprintf("/bin/sh -c generate layer %d", l), Files: fs})
	}
	return out
}

// random makes up to 7 layers of up to 15 entries each over a few shared
// paths, so that layers overwrite, delete and hide each other's files.
func random(seed int) []imagetest.Layer {
	rng := rand.New(rand.NewSource(int64(seed)))
	dirs := []string{"a", "a/b", "a/b/c", "d", "e/f", "tmp", "a/x"}
	names := []string{"x", "y", "b", "c"}
	var layers []imagetest.Layer
	for l := 0; l < 1+rng.Intn(7); l++ {
		var fs []imagetest.File
		for i := 0; i < rng.Intn(15); i++ {
			d := dirs[rng.Intn(len(dirs))]
			p := d + "/" + names[rng.Intn(len(names))]
			switch rng.Intn(10) {
			case 0:
				fs = append(fs, imagetest.Whiteout(p))
			case 1:
				fs = append(fs, imagetest.Whiteout(d))
			case 2:
				fs = append(fs, imagetest.Opaque(d))
			case 3:
				fs = append(fs, imagetest.File{Path: d + "/", Dir: true})
			case 4:
				fs = append(fs, imagetest.File{Path: p, Hardlink: "a/b"})
			case 5:
				fs = append(fs, imagetest.File{Path: d, Size: int64(rng.Intn(100))}) // a directory's path as a file
			case 6:
				fs = append(fs, imagetest.File{Path: "./" + p + "/", Dir: true})
			default:
				fs = append(fs, imagetest.File{Path: p, Size: int64(rng.Intn(5000)), Seed: byte(rng.Intn(3)), Mode: int64(0o600 + rng.Intn(2)*0o100)})
			}
		}
		layers = append(layers, imagetest.Layer{CreatedBy: fmt.Sprintf("RUN step %d", l), Files: fs})
	}
	return layers
}
