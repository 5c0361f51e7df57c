package cli

import "os"

// heapFloorSize is the least heap the collector lets the server grow to
// before it collects: a request allocates ~10-15 KiB while the live heap
// of a small store is ~6 MiB, so with GOGC 100 alone the collector ran
// after every few hundred requests, a tenth of a write's CPU and more of a
// read's (docs/BENCHMARKS.md, issue 9). The floor adds at most this much
// garbage before a collection; it does not change how memory a burst took
// goes back.
const heapFloorSize = 16 << 20

// heapFloorMinLimit is the smallest soft memory limit the floor is set
// under: the floor counts against the limit, and under a small one (a
// container of a few hundred MiB) the limit is the better guide.
const heapFloorMinLimit = 256 << 20

// heapFloor holds the floor: pointer-free, so the collector never scans it,
// and never written, so its pages are never touched and cost no RSS, only
// address space. It only raises the live heap the collector's goal is
// computed from (the "ballast" technique).
var heapFloor []byte

// applyHeapFloor sets the floor unless GOGC is in the environment (the
// operator's choice wins) or the soft memory limit is small, and returns
// its size.
func applyHeapFloor(limit int64) int64 {
	if os.Getenv("GOGC") != "" || limit < heapFloorMinLimit || heapFloor != nil {
		return 0
	}
	heapFloor = make([]byte, heapFloorSize)
	return heapFloorSize
}
