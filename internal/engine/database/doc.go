// Package database is the database secrets engine: Vault's paths, fields
// and defaults for handing out short-lived PostgreSQL and MySQL/MariaDB
// logins. An operator writes a connection (config/<name>) and roles
// (roles/<name>); a workload reads creds/<role> and gets a fresh user,
// its password and a connection_url ready to use, under a lease that the
// lease manager renews (renew_statements) and revokes (revocation
// statements, or a default that ends the user's sessions and drops it).
//
// Static roles (static-roles/<name>) hand an existing user's password to
// Coffer: it is rotated at once, then on a rotation_period or a cron
// rotation_schedule, and static-creds/<name> answers the password in
// force with a connection_url.
//
// One file per group of routes: path_config.go (config/, reset/),
// path_roles.go (roles/), path_creds.go (creds/), path_rotate.go
// (rotate-root/), secret_creds.go (the leased secret's renew and revoke),
// path_static_roles.go (static-roles/), path_static_creds.go
// (static-creds/, rotate-role/). rotation.go rotates a static role so that
// a crash or a failure never loses the working password; scheduler.go
// rotates them as they come due, only while started.
//
// Talking to a database is the job of a dbdriver.Plugin (packages postgres
// and mysql); this package only decides who gets which user. It never
// returns, logs or puts in an error the password of a config: config
// reads leave it out and driver errors are scrubbed.
package database
