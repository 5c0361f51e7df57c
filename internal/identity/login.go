package identity

import (
	"context"
	"maps"

	"github.com/cofferhq/coffer/internal/logical"
)

// Login returns the entity behind a successful login on the auth mount
// with accessor, as the method reported it in alias: the entity owning the
// alias (accessor, alias.Name), created with the alias when there is none.
// The alias's metadata is replaced by alias.Metadata when it differs, so
// templated policies see what the last login proved. Two concurrent first
// logins of one alias get the same new entity. The caller decides what a
// disabled entity means. The result is shared: never modify it.
func (s *Store) Login(ctx context.Context, accessor string, alias *logical.Alias) (*Entity, error) {
	if alias == nil || alias.Name == "" {
		return nil, ErrNoAliasName
	}
	if e, a := s.EntityByFactors(accessor, alias.Name); e != nil && maps.Equal(a.Metadata, alias.Metadata) {
		return e, nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	// Looked up again: another login may have created it meanwhile.
	e, a := s.byAliasLocked(s.factors[factorKey(accessor, alias.Name)])
	if e != nil {
		if maps.Equal(a.Metadata, alias.Metadata) {
			return e, nil
		}
		next := e.clone()
		na := next.Alias(accessor)
		na.Metadata = maps.Clone(alias.Metadata)
		na.LastUpdateTime = s.now().UTC()
		if err := s.commit(ctx, []*Entity{next}, nil); err != nil {
			return nil, err
		}
		return next, nil
	}
	next := s.newEntity("")
	na := s.newAlias(next, accessor, alias.Name)
	na.Metadata = maps.Clone(alias.Metadata)
	next.Aliases = []*Alias{na}
	if err := s.commit(ctx, []*Entity{next}, nil); err != nil {
		return nil, err
	}
	return next, nil
}
