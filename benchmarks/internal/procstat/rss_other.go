//go:build !linux

package procstat

// RSS is not measured outside Linux.
func RSS() (int64, bool) { return 0, false }
