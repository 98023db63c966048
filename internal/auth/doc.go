// Package auth holds the registry server's identities: htpasswd files with
// bcrypt entries (the format Apache's `htpasswd -B` writes and registry:2
// reads), a cache of verified credentials so that a request does not pay a
// bcrypt comparison each time, a per-client slowdown of failed logins, and
// the verification of bearer tokens from a registry:2-style token server.
//
// It is a leaf: it imports only the standard library, x/crypto and go-jose
// (the JOSE library registry 3 uses), never another berth package.
package auth
