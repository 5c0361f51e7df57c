// Package framework turns a table of routes into a logical.Backend. Each
// route is data: a path pattern, the fields it accepts with their types and
// defaults, and the handler for each operation. Field parsing, type
// validation, 404s for unknown paths and 405s for unsupported operations all
// come from that table, so handlers never parse raw input themselves.
//
// It is not a place for business logic, storage layout or authorisation.
package framework
