package disruption

import (
	"syscall"
	"time"
)

// ProcessCPU is the default Stopwatch: the CPU time the process has used. The searches'
// time budgets count the computing they do, not the wall clock: on a loaded machine a
// wall-clock budget ran out after a fraction of the work and the decision depended on
// the load (single-node consolidation stopped looking before its better move; multi-node
// skipped its search of the expensive candidates). Other work of the process in the same
// time counts too, so a busy controller still keeps a decision short.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
