// Package ui is the registry's web pages, served at / and /ui/ by
// `berth registry serve`: the repositories (search and paging over the
// catalog object, never a storage walk), each repository's tags (digest,
// size, platforms, created time, a `docker pull` line), each manifest or
// index with its config, layer history, referrers and, on demand, the layer
// analysis of package analyze (cached in memory with a bound), and the
// deletion of a tag or a manifest behind a confirmation form.
//
// It reads and deletes only through the registry.Server methods the API's
// handlers share (browse.go there), after the server has authenticated the
// request as it would an API request, and checks the same access rules per
// page (pull on the repository, registry:catalog:* for the list, delete to
// delete). Templates and assets are embedded: html/template escapes every
// value, pages read without JavaScript, the one script (copy buttons, live
// filter) and the style sheet are files under a Content-Security-Policy
// that allows nothing inline, and the delete form carries a CSRF token
// (double-submit cookie, SameSite=Strict, plus Sec-Fetch-Site and Origin
// checks).
//
// It imports registry, analyze and image (and go-containerregistry's types
// for manifests and configs); it must not import store, remote or cli.
package ui
