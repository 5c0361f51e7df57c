package cli

import "testing"

// TestHeapFloor: the floor is set once under a large enough limit, and
// never when GOGC is in the environment or the limit is small.
func TestHeapFloor(t *testing.T) {
	defer func() { heapFloor = nil }()
	t.Setenv("GOGC", "300")
	if n := applyHeapFloor(1 << 30); n != 0 || heapFloor != nil {
		t.Fatalf("GOGC in the environment, floor %d set", n)
	}
	t.Setenv("GOGC", "")
	if n := applyHeapFloor(128 << 20); n != 0 || heapFloor != nil {
		t.Fatalf("soft limit of 128 MiB, floor %d set", n)
	}
	if n := applyHeapFloor(1 << 30); n != heapFloorSize || len(heapFloor) != heapFloorSize {
		t.Fatalf("default limit: floor %d, held %d", n, len(heapFloor))
	}
	if n := applyHeapFloor(1 << 30); n != 0 {
		t.Fatalf("a second call set another floor of %d", n)
	}
}
