// Package serve runs `berth registry serve` from a configuration: it opens
// the storage driver config names (filesystem or S3), builds the server's
// options (auth, pull-through upstream, limits), and serves it with
// registry:2's HTTP behaviour: http.prefix and http.host on paths and
// Location headers, http.headers, TLS with client certificates, HTTP/2
// switches, the health gate (health.*), the debug server with pprof and
// the Prometheus metrics (http.debug), and the background work (online GC
// with the storage lease, upload purging).
//
// It is where the registry's concrete parts meet, below the CLI: the CLI
// parses flags into a config.Config and calls Run. The pull-through
// upstream comes in as a function, so that this package needs no registry
// client (internal/remote) of its own.
package serve
