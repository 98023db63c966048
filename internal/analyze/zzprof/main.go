package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/berth-dev/berth/internal/analyze"
	"github.com/berth-dev/berth/internal/analyze/source"
)

func main() {
	ctx := context.Background()
	f, _ := os.Create("/tmp/cpu.prof")
	pprof.StartCPUProfile(f)
	t := time.Now()
	img, err := source.Open(ctx, os.Args[1], source.Options{})
	if err != nil {
		panic(err)
	}
	rep, err := analyze.Analyze(ctx, img, "x", "y", analyze.Options{StoredBlobs: img.StoredBlobs})
	if err != nil {
		panic(err)
	}
	pprof.StopCPUProfile()
	fmt.Println(time.Since(t), rep.Efficiency)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Println("live heap MB", ms.HeapAlloc>>20, "sys", ms.Sys>>20, "total alloc", ms.TotalAlloc>>20)
	h, _ := os.Create("/tmp/mem.prof")
	pprof.WriteHeapProfile(h)
	runtime.KeepAlive(rep)
}
