// Command rrproxy is the round-robin load balancer of bench/registry-s3.sh:
// a reverse proxy on 127.0.0.1 that sends each request to the next
// backend, and counts the response bytes that pass through it
// (GET /_rrproxy/bytes), so the benchmark can show that a pull with
// presigned redirects moves its blobs around berth, not through it.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync/atomic"
)

type counter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c counter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func (c counter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:5400", "address to listen on")
	backends := flag.String("backends", "", "comma-separated host:port list")
	flag.Parse()
	bs := strings.Split(*backends, ",")
	var next atomic.Uint64
	var bytes atomic.Int64
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			b := bs[next.Add(1)%uint64(len(bs))]
			r.Out.URL.Scheme, r.Out.URL.Host, r.Out.Host = "http", b, b
		},
		FlushInterval: -1,
	}
	http.HandleFunc("/_rrproxy/bytes", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, bytes.Load()) })
	http.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rp.ServeHTTP(counter{w, &bytes}, r)
	}))
	log.Fatal(http.ListenAndServe(*listen, nil))
}
