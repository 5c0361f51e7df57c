package postgres

// ListQuery is the statement List runs on table, for tests that check its
// plan.
func ListQuery(table string) string { return newQueries(table).list }

// MaxConns is the size limit of b's connection pool.
func MaxConns(b *Backend) int32 { return b.pool.Config().MaxConns }

// PauseRenewal makes b's HA lock stop renewing, as a server that hangs
// would.
func PauseRenewal(b *Backend) { close(b.ha.paused) }
