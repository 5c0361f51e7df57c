package cli

// The version commands: delete, undelete and destroy. In KV v2 a delete
// is soft (undelete restores it); destroy erases the data for good.

func runKVDelete(s *session) error {
	if err := s.wantArgs(1, 1); err != nil {
		return err
	}
	k, err := s.resolveKV(s.arg(0))
	if err != nil {
		return err
	}
	if s.c.String("versions") == "" {
		p := k.api("data")
		if _, err := s.client.Logical().DeleteWithContext(s.ctx, p); err != nil {
			return serverError("deleting "+p, err)
		}
		return s.success("Data deleted (if it existed) at: %s", p)
	}
	if !k.v2 {
		return usageError("deleting versions", errNotKVv2)
	}
	return s.kvVersionsWrite(k, "delete", "deleting versions at ", "Data deleted (if it existed) at: %s")
}

func runKVUndelete(s *session) error {
	return s.kvVersionsCommand("undelete", "undeleting versions at ")
}

func runKVDestroy(s *session) error {
	return s.kvVersionsCommand("destroy", "destroying versions at ")
}

// kvVersionsCommand runs undelete or destroy, which exist only in KV v2
// and always need -versions.
func (s *session) kvVersionsCommand(prefix, doing string) error {
	if err := s.wantArgs(1, 1); err != nil {
		return err
	}
	if s.c.String("versions") == "" {
		return usageErrorf("Missing -versions: say which versions to %s, e.g. -versions=1,2", prefix)
	}
	k, err := s.resolveKV(s.arg(0))
	if err != nil {
		return err
	}
	if !k.v2 {
		return usageError(doing+k.api(""), errNotKVv2)
	}
	return s.kvVersionsWrite(k, prefix, doing, "Data written to: %s")
}

// kvVersionsWrite sends {"versions": [...]} to <mount>/<prefix>/<path>.
func (s *session) kvVersionsWrite(k kvPath, prefix, doing, okFormat string) error {
	versions, err := parseVersions(s.c.String("versions"))
	if err != nil {
		return usageError("parsing -versions", err)
	}
	p := k.api(prefix)
	if _, err := s.client.Logical().WriteWithContext(s.ctx, p, map[string]any{"versions": versions}); err != nil {
		return serverError(doing+p, err)
	}
	return s.success(okFormat, p)
}
