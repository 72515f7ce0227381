package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

const (
	// chunkSize is how many bytes of frames go to the socket in one write (each with its own
	// deadline), so a large batch neither waits on one huge write nor makes a syscall per record.
	chunkSize = 64 << 10
	// maxDatagram is the size RFC 5426 §3.2 asks every receiver to accept. A longer message is
	// shortened in MSG; the structured data stays whole.
	maxDatagram = 2048
	// maxDatagramValue caps one structured-data value in a datagram, so that no record, however
	// odd, makes a datagram too large to send at all: seven free-text values, each doubled by
	// escaping at worst, stay under 64 KiB. Real values are far shorter and go whole.
	maxDatagramValue = 4096
)

// Sender delivers records to one endpoint over one connection, which it opens on the first Send
// and opens again after it breaks. It is safe for concurrent use; Sends are serialised.
type Sender struct {
	e        Endpoint
	hostname string

	mu   sync.Mutex
	conn net.Conn // nil until connected and after a failure
}

// NewSender returns a Sender for e whose messages carry hostname as HOSTNAME. It does not
// connect: the first Send does.
func NewSender(e Endpoint, hostname string) *Sender {
	return &Sender{e: e, hostname: hostname}
}

// Send writes the records in order and returns how many were written before an error. The caller
// keeps the rest and, after a pause, calls Send again from the first unwritten one.
//
// Over TCP and TLS delivery is at least once and in order. A record never overtakes an earlier
// one and none is skipped; after a broken connection the receiver may see some records twice
// (the id in each message tells the copies apart). To make that hold, a write into the socket is
// not taken as delivery: once a batch is written, Send waits until the receiver's TCP has
// acknowledged every byte (on Linux; elsewhere it waits briefly for a reset) and the connection is
// still open. Until then nothing counts as written, so over TCP and TLS n is 0 or len(records),
// and a failed batch goes again whole on a new connection. What no sender can see is a receiver
// that acknowledges and then crashes before handling what it buffered: syslog has no
// application-level acknowledgement.
//
// Over UDP each record is one datagram and n counts the datagrams handed to the network; a
// datagram lost on the way is lost. An error comes back only when the receiver's host refused
// earlier ones (ICMP port unreachable).
//
// Every write has a 5-second deadline, as does connecting; cancelling ctx stops Send promptly.
func (s *Sender) Send(ctx context.Context, records []Record) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(records) == 0 {
		return 0, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, s.fail(ctx, err)
	}
	stream := s.e.Protocol != UDP
	if s.conn != nil && stream && probe(s.conn, time.Millisecond) != nil {
		// The receiver closed the connection while it was idle (a restart, an idle timeout).
		s.closeConn()
	}
	if s.conn == nil {
		conn, err := dial(ctx, s.e)
		if err != nil {
			return 0, err
		}
		s.conn = conn
	}
	conn := s.conn
	// Cancelling ctx interrupts a blocked write or wait; the connection, its deadlines spoiled
	// and perhaps a frame half written, is then closed.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() && s.conn == conn {
			s.closeConn()
		}
	}()
	if !stream {
		return s.sendDatagrams(ctx, conn, records)
	}
	if err := s.sendFrames(ctx, conn, records); err != nil {
		return 0, s.fail(ctx, err)
	}
	return len(records), nil
}

// sendFrames writes records as octet-counted frames (RFC 6587 §3.4.1: "LEN SP MSG") and waits
// until they are acknowledged.
func (s *Sender) sendFrames(ctx context.Context, conn net.Conn, records []Record) error {
	buf := make([]byte, 0, chunkSize+4096)
	flush := func() error {
		_ = conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		// After the deadline is set: a cancellation from here on overrides it.
		if err := ctx.Err(); err != nil {
			return err
		}
		_, err := conn.Write(buf)
		buf = buf[:0]
		return err
	}
	for _, r := range records {
		msg := Format(r, s.hostname)
		buf = strconv.AppendInt(buf, int64(len(msg)), 10)
		buf = append(buf, ' ')
		buf = append(buf, msg...)
		if len(buf) >= chunkSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if len(buf) > 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	return confirm(ctx, conn)
}

// sendDatagrams sends one datagram per record (RFC 5426).
func (s *Sender) sendDatagrams(ctx context.Context, conn net.Conn, records []Record) (int, error) {
	for i, r := range records {
		_ = conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := ctx.Err(); err != nil {
			return i, s.fail(ctx, err)
		}
		if _, err := conn.Write(datagram(r, s.hostname)); err != nil {
			return i, s.fail(ctx, err)
		}
	}
	return len(records), nil
}

// datagram formats r for UDP: at most maxDatagram bytes when the structured data allows,
// shortening MSG (at a character boundary) and never the structured data.
func datagram(r Record, hostname string) []byte {
	head, msg := render(r, hostname, maxDatagramValue)
	if room := maxDatagram - len(head) - 1; len(msg) > room {
		msg = cut(msg, max(room, 0))
	}
	return join(head, msg)
}

// fail closes the connection, so that the next Send starts on a new one, and says what failed.
func (s *Sender) fail(ctx context.Context, err error) error {
	s.closeConn()
	if ctx.Err() != nil {
		// A write interrupted by the cancellation reports a timeout; the cancellation is the cause.
		err = context.Cause(ctx)
	}
	return fmt.Errorf("send to syslog endpoint %s over %s: %w", s.e.Address, s.e.Protocol, unwrapOp(err))
}

// Close closes the connection, waiting for a Send in progress. A later Send connects again.
func (s *Sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeConn()
}

func (s *Sender) closeConn() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// errClosedByReceiver is the failure when the receiver has closed the connection (sent FIN).
var errClosedByReceiver = errors.New("the receiver closed the connection")

// confirm returns once the receiver's TCP has acknowledged every byte written on conn and the
// connection is still open, or says why not. A write only puts bytes in the kernel's buffer: if
// the receiver has gone, they are lost, and only its reset, or the missing acknowledgement, says so.
func confirm(ctx context.Context, conn net.Conn) error {
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	// A slow receiver is fine as long as it makes progress: the deadline moves with each
	// acknowledgement, so only one that takes nothing for writeTimeout fails the batch.
	deadline, last := time.Now().Add(writeTimeout), -1
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		pending, known := unacknowledged(raw)
		if !known {
			// No count on this system: give a reset time to come back over a LAN.
			return probe(conn, 20*time.Millisecond)
		}
		if err := probe(conn, wait); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		switch {
		case pending == 0:
			return nil
		case last < 0 || pending < last:
			deadline, last = time.Now().Add(writeTimeout), pending
		case time.Now().After(deadline):
			return fmt.Errorf("the receiver acknowledged nothing for %s (%d bytes outstanding)", writeTimeout, pending)
		}
	}
}

// probe reads from a stream connection for up to wait: the receiver never sends anything, so a
// read that times out means the connection stands, and end of file or an error means it does not.
func probe(conn net.Conn, wait time.Duration) error {
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	_, err := conn.Read(make([]byte, 1))
	var ne net.Error
	switch {
	case err == nil, errors.As(err, &ne) && ne.Timeout():
		return nil
	case errors.Is(err, io.EOF):
		return errClosedByReceiver
	default:
		return err
	}
}
