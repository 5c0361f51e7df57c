package policy

import (
	"math/bits"

	"github.com/cofferhq/coffer/internal/logical"
)

// Capability names as written in policies and returned by
// (*ACL).Capabilities.
const (
	DenyCapability   = "deny"
	CreateCapability = "create"
	ReadCapability   = "read"
	UpdateCapability = "update"
	PatchCapability  = "patch"
	DeleteCapability = "delete"
	ListCapability   = "list"
	SudoCapability   = "sudo"
	// RootCapability is never written in a policy; Capabilities returns it
	// alone for a root token.
	RootCapability = "root"
)

// capSet is a bitmask of capabilities. A bitmask keeps merging and the
// per-request check to a couple of machine instructions.
type capSet uint16

const (
	capDeny capSet = 1 << iota
	capCreate
	capRead
	capUpdate
	capPatch
	capDelete
	capList
	capSudo
)

// capNames is in sorted name order so that names() returns a sorted slice
// without sorting.
var capNames = []struct {
	name string
	bit  capSet
}{
	{CreateCapability, capCreate},
	{DeleteCapability, capDelete},
	{DenyCapability, capDeny},
	{ListCapability, capList},
	{PatchCapability, capPatch},
	{ReadCapability, capRead},
	{SudoCapability, capSudo},
	{UpdateCapability, capUpdate},
}

// capabilityBit returns the bit for a capability name, or 0 when unknown.
func capabilityBit(name string) capSet {
	for _, c := range capNames {
		if c.name == name {
			return c.bit
		}
	}
	return 0
}

// legacyPolicies maps the pre-capabilities `policy = "..."` shorthand onto
// capability sets, as Vault does. "list" is accepted as well because older
// Coffer examples used it.
var legacyPolicies = map[string]capSet{
	"deny":  capDeny,
	"read":  capRead | capList,
	"write": capCreate | capRead | capUpdate | capDelete | capList,
	"sudo":  capCreate | capRead | capUpdate | capDelete | capList | capSudo,
	"list":  capList,
}

// normalize enforces that deny excludes everything else.
func (c capSet) normalize() capSet {
	if c&capDeny != 0 {
		return capDeny
	}
	return c
}

// names returns the sorted capability names in c.
func (c capSet) names() []string {
	out := make([]string, 0, bits.OnesCount16(uint16(c)))
	for _, n := range capNames {
		if c&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// opBit is the capability an operation needs; 0 for an unknown operation,
// which is therefore never allowed.
func opBit(op logical.Operation) capSet {
	switch op {
	case logical.ReadOperation:
		return capRead
	case logical.ListOperation:
		return capList
	case logical.CreateOperation:
		return capCreate
	case logical.UpdateOperation:
		return capUpdate
	case logical.PatchOperation:
		return capPatch
	case logical.DeleteOperation:
		return capDelete
	}
	return 0
}
