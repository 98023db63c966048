// Package untrusted bounds what berth echoes of input it did not write: tar
// entry names, references, registry error bodies, header values, file names
// from archives and contexts. An error message repeats such text so the
// user can find the culprit, but a 20 KB name repeated three times, or a
// registry body full of terminal escapes, makes the message useless or
// harmful. Quote and Text keep the start of the text, say how much was cut,
// and escape what a terminal would interpret.
//
// It is a leaf: it imports only the standard library, so every package,
// ref and fsutil included, can use it.
package untrusted
