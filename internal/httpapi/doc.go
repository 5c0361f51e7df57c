// Package httpapi translates between Vault's v1 HTTP API and logical
// requests: verbs to operations, query strings and JSON bodies to request
// data, tokens from headers, and responses and errors back to Vault's
// envelopes and status codes. The error-to-status map lives here and only
// here.
//
// It makes no decisions of its own: authentication, authorisation, routing
// and sealing are the core's, reached through the one-method Handler.
package httpapi
