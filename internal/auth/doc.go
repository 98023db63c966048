// Package auth holds the registry server's identities: htpasswd files with
// bcrypt entries (the format Apache's `htpasswd -B` writes and registry:2
// reads), a cache of verified credentials so that a request does not pay a
// bcrypt comparison each time, and a per-client slowdown of failed logins.
//
// It is a leaf: it imports only the standard library and x/crypto, never
// another berth package.
package auth
