// Package vulndb owns berth's offline vulnerability database: OSV records
// (https://ossf.github.io/osv-schema/) imported from a directory, an osv.dev
// <ECOSYSTEM>/all.zip or a zip of those, indexed by ecosystem and package name
// in a bbolt file, and moved between machines as an OCI artifact.
//
// A scan never downloads anything: the database is only ever written by
// Import or Pull, which a user runs on purpose.
//
// It must not import internal/cli, internal/store or internal/scan (scan
// consumes it through a small interface).
package vulndb
