// Package logical defines the vocabulary shared by the core and every secrets
// engine and auth method: a Request, a Response, the Operation performed, the
// Storage an engine is confined to, and the Backend interface engines
// implement.
//
// It holds types and small helpers only. It is not where routing, policy
// checks or HTTP translation happen: those live in router, policy and httpapi.
package logical
