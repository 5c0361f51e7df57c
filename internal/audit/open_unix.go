//go:build unix

package audit

import "syscall"

// openNonblock opens a file device without waiting: opening a FIFO for
// writing would otherwise block until a reader came, holding the broker's
// lock (every sys/audit call, SIGHUP and sealing would wait with it).
const openNonblock = syscall.O_NONBLOCK
