// Package config reads the Coffer server configuration: HCL (or JSON) in
// Vault's shape, with storage, listener and seal blocks and a handful of
// top-level settings.
//
// It is for: turning a file into a validated *Server with every default
// filled in, and explaining every mistake as "file:line: message" naming the
// key at fault. Unknown keys are errors, not warnings, so that a typo never
// silently changes how a secrets server runs.
//
// It is not for: opening storage, binding listeners or unsealing. Those
// belong to the packages that own them; this package only describes what
// they should do. Seal.ReadKey is the one helper that touches the disk,
// because the key file's format is part of the configuration contract.
package config
