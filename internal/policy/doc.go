// Package policy parses Vault-style HCL ACL policies and evaluates them
// against request paths.
//
// It is for: turning policy text into a *Policy (with line- and
// column-numbered errors a person can act on), holding the built-in
// "default" and "root" policies and the naming rules around them, compiling a
// set of policies into an *ACL, and answering "may this operation run on this
// path?" and "what capabilities does this path grant?" the way Vault does:
// capabilities on the same pattern merge, an explicit deny wins, and among
// different matching patterns the most specific one (by Vault's documented
// priority rules) decides alone. Parameter rules (allowed_parameters,
// denied_parameters, required_parameters) are checked against the values the
// handler will use, element by element, as the caller's ParamFunc reports
// them; the policy's own values are converted through the same field type.
//
// It is not for: storing policies, resolving a token to its policy names, or
// deciding which paths need sudo. Everything here is a pure function of its
// inputs; callers own storage and caching.
package policy
