//go:build linux

package syslog

import (
	"net"
	"syscall"
	"unsafe"
)

// unacknowledged returns how many bytes written on conn the peer's TCP has not yet acknowledged
// (SIOCOUTQ, which Linux defines as TIOCOUTQ), and false when it cannot tell.
func unacknowledged(conn net.Conn) (int, bool) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var n int32
	var errno syscall.Errno
	err = rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&n)))
	})
	if err != nil || errno != 0 {
		return 0, false
	}
	return int(n), true
}
