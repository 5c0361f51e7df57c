package postgres

// ListQuery is the statement List runs on table, for tests that check its
// plan.
func ListQuery(table string) string { return newQueries(table).list }
