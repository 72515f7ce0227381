//go:build linux

package syslog_test

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/audit/syslog"
)

// Bytes the kernel took from Send but the receiver's TCP never acknowledged are lost if the
// receiver dies, so they must not count as written. Here the receiver advertises a tiny window,
// reads nothing, and dies 300ms later: every write fits the sender's buffers, yet nothing counts.
func TestSendCountsOnlyAcknowledgedRecords(t *testing.T) {
	t.Parallel()
	// The buffer is set before listening, so that the window advertised from the start is small.
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var opt error
		err := c.Control(func(fd uintptr) {
			opt = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
		})
		return errors.Join(err, opt)
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	died := make(chan struct{})
	go func() {
		defer close(died)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		time.Sleep(300 * time.Millisecond)
		c.Close() // with data unread, the kernel answers the sender with a reset
	}()

	ep, err := syslog.ParseEndpoint(ln.Addr().String(), "tcp")
	if err != nil {
		t.Fatal(err)
	}
	s := syslog.NewSender(ep, "h")
	t.Cleanup(func() { s.Close() })
	n, err := s.Send(context.Background(), records(1, 20))
	<-died
	if n != 0 || err == nil {
		t.Fatalf("Send to a receiver that acknowledged only part and died = %d, %v; want 0 and an error", n, err)
	}
	t.Log(err)
}
