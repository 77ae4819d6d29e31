//go:build unix

package scanstore

import "syscall"

// allocated is the bytes of disk a file takes.
func allocated(path string) int64 {
	var st syscall.Stat_t
	if syscall.Stat(path, &st) != nil {
		return 0
	}
	return st.Blocks * 512
}
