// Package config reads the registry's configuration the way the CNCF
// registry (registry:2, distribution) does: a config.yml whose keys are
// distribution's, then REGISTRY_* environment variables that override single
// keys (REGISTRY_HTTP_ADDR is http.addr, REGISTRY_STORAGE_S3_BUCKET is
// storage.s3.bucket, REGISTRY_STORAGE=s3 picks the storage driver).
//
// Every key distribution knows is listed in schema.go, and each one either
// takes effect or is refused with an error that names it and says why:
// nothing in a config file is silently ignored. Unknown keys in the file are
// errors too (a typo must not leave a default in force); unknown REGISTRY_*
// variables outside the known sections are warnings, because container
// platforms set variables such as REGISTRY_PORT for a service named
// "registry".
//
// The package is pure: it parses and checks, it opens no file but the
// config itself and starts nothing. It imports no other berth package.
package config
