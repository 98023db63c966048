// Package storagetest is the storage contract as a test suite: Run checks
// a storage.Driver against everything the registry relies on. The
// filesystem driver and the S3 driver both pass it; a new driver's tests
// call it. It is imported by tests only, never by production code.
package storagetest
