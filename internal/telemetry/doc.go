// Package telemetry holds the server's Prometheus metrics and the pieces of
// logging that follow a request: the request ID in every log line written
// with the request's context, and log levels that change at run time.
//
// Metrics live in a registry of their own (never Prometheus' global one),
// so two servers in one process, as in tests, never share a count. Every
// method of *Metrics is safe for concurrent use and does nothing on a nil
// receiver, so callers need no "is telemetry on" checks.
//
// Labels are bounded by design: mount types, auth method types, operations,
// status codes, storage operations and audit device types. A path, token,
// accessor of a token, user name or secret value never becomes a label.
//
// It is not an audit log (internal/audit records who did what) and it does
// not push metrics anywhere: operators scrape sys/metrics.
package telemetry
