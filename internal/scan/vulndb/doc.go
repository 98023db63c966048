// Package vulndb owns berth's vulnerability database: OSV records
// (https://ossf.github.io/osv-schema/) indexed by ecosystem and package name
// in a bbolt file, one bucket per source, and how they get there.
//
// Sources: osv.dev-style exports (<base>/<Ecosystem>/all.zip, as osv.dev's
// exporter writes them to its bucket) fetched by Update — resumable (HTTP
// Range with If-Range), verified (announced size, x-goog-hash/Content-MD5,
// a zip that reads), asked "changed since?" (ETag, Last-Modified) —; OCI
// artifacts written by Push and read by Pull or Update; directories and
// zips imported by hand. Repositories are tried in order, an ecosystem one
// cannot provide taken from the next. Only the user's choice of
// ecosystems reaches a repository, never anything about an image.
//
// Every change is a build: the database is copied beside itself, changed,
// synced and renamed over the original under a lock file, so a scan that
// has the database open reads the old file to its end and a failure leaves
// it untouched. Records of ecosystems berth does not match keep only their
// severity, under their ids and aliases, for the findings that alias them.
//
// It must not import internal/cli, internal/store or internal/scan (scan
// consumes it through a small interface).
package vulndb
