package logical

// StoredJSON is JSON an engine wrote itself, checked when it was written
// and authenticated by the barrier's AEAD on every read since, such as a
// KV version's data. The HTTP layer copies it into a response without
// validating it again (a full scan of the secret per read). Never wrap
// client input, or anything read from outside the barrier, in it: use
// json.RawMessage, which is checked.
type StoredJSON []byte

// MarshalJSON returns s itself ("null" when nil); encoding/json still
// checks and compacts what a Marshaler returns.
func (s StoredJSON) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("null"), nil
	}
	return s, nil
}
