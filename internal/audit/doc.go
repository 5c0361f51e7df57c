// Package audit is Coffer's audit log: the devices that receive one JSON
// line for every request and one for every response (file, socket,
// syslog), the formatter that HMACs every string a line carries with the
// device's own salt, the broker the core calls around each request, and
// the hash chain that makes a file device's log tamper-evident, with its
// verifier.
//
// It is not where requests are authorised or routed (core), nor where the
// sys/audit endpoints are declared (system): it holds the devices and the
// rules for what they write. Nothing sensitive reaches a device in the
// clear: tokens, accessors (unless hmac_accessor=false), request and
// response data are HMAC-SHA256'd, unless a device was enabled with
// log_raw=true.
package audit
