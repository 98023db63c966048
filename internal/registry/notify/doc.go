// Package notify delivers the registry's events to registry:2's
// notification endpoints (notifications.endpoints): each endpoint has its
// own queue and worker, POSTs envelopes of events in registry:2's JSON
// ({"events": [...]}, Content-Type application/vnd.docker.distribution.events.v2+json)
// with its static headers and timeout, keeps retrying a batch until the
// endpoint answers 2xx or 3xx, and after threshold failures in a row waits
// backoff between attempts, as registry:2's retrying sink does. Events are
// filtered by media type and action (ignore.mediatypes, ignore.actions).
//
// It imports only the registry package (for the Event type) and the
// Prometheus client; the registry never waits for a delivery.
package notify
