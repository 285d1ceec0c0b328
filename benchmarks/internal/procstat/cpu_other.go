//go:build !unix

package procstat

import "time"

// CPU is not measured outside Unix.
func CPU() (time.Duration, bool) { return 0, false }
