//go:build linux

package web

import "syscall"

// fdBudget is how many client connections the process's open-file limit
// can hold (fdBudgetOf); zero when it is unknown or unlimited.
func fdBudget() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur >= 1<<62 { // RLIM_INFINITY
		return 0
	}
	return fdBudgetOf(lim.Cur)
}
