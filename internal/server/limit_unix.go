//go:build unix

package server

import "syscall"

// fileLimit is the process's soft limit on open file descriptors.
func fileLimit() (int, bool) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, false
	}
	return int(min(rl.Cur, 1<<30)), true
}
