//go:build !linux

package bolt

// fdatasync falls back to fsync where fdatasync is not available.
func fdatasync(f logFile) error { return f.Sync() }
