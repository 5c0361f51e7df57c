package barrier

// SetStandby marks the barrier as a standby's: another server writes the
// shared storage, so this one must not store the keyring (Seal then keeps
// its encryption counts to itself; the stored reservations still bound
// them). It is off until called.
func (b *Barrier) SetStandby(on bool) { b.standby.Store(on) }
