package syslog

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The fixed parts of every message.
const (
	appName = "berth"
	msgID   = "audit"
	// sdID names the structured-data element. 32473 is the enterprise number IANA reserves for
	// examples (RFC 5612); a private one can replace it without changing anything else.
	sdID = "audit@32473"

	facilityLocal0 = 16
	severityNotice = 5 // failures: worth a look
	severityInfo   = 6

	// timeLayout is RFC 3339 with microseconds, the precision RFC 5424 §6.2.3 allows at most.
	timeLayout  = "2006-01-02T15:04:05.000000Z07:00"
	maxHostname = 255 // RFC 5424 §6.2.4
)

// Format renders one record as an RFC 5424 message without framing:
//
//	<134>1 2026-11-23T01:02:03.123456Z registry-1 berth - audit [audit@32473 id="7" user="admin" …] admin create artifact library/nginx:1.25
//
// PRI is local0 with severity informational, or notice when Result is "failure". hostname goes
// into HOSTNAME with every character that is not printable US-ASCII replaced by "-"; empty means
// the NILVALUE "-". The structured data carries every field (empty Project, SourceIP, Result and a
// zero Time are left out), its values UTF-8 with '"', '\' and ']' escaped (§6.3.3). MSG is a short
// line for people, with no BOM and control characters turned into spaces.
func Format(r Record, hostname string) []byte {
	head, msg := render(r, hostname, 0)
	return join(head, msg)
}

// render returns the message up to and including the structured data, and MSG, apart, so that a
// datagram can shorten MSG alone. maxValue > 0 caps each structured-data value at that many bytes.
func render(r Record, hostname string, maxValue int) (head, msg string) {
	severity := severityInfo
	if failed(r) {
		severity = severityNotice
	}
	var b strings.Builder
	b.WriteByte('<')
	b.WriteString(strconv.Itoa(facilityLocal0*8 + severity))
	b.WriteString(">1 ")
	b.WriteString(timestamp(r.Time))
	b.WriteByte(' ')
	b.WriteString(headerField(hostname, maxHostname))
	b.WriteString(" " + appName + " - " + msgID + " [" + sdID)
	param := func(name, value string, always bool) {
		if value == "" && !always {
			return
		}
		value = strings.ToValidUTF8(value, "\uFFFD")
		if maxValue > 0 {
			value = cut(value, maxValue)
		}
		b.WriteString(" " + name + `="`)
		paramEscaper.WriteString(&b, value) //nolint:errcheck // a strings.Builder does not fail
		b.WriteByte('"')
	}
	param("id", strconv.FormatInt(r.ID, 10), true)
	param("user", r.User, true)
	param("operation", r.Operation, true)
	param("resource_type", r.ResourceType, true)
	param("resource", r.Resource, true)
	param("project", r.Project, false)
	if !r.Time.IsZero() {
		param("time", r.Time.UTC().Format(timeLayout), true)
	}
	param("source_ip", r.SourceIP, false)
	param("result", r.Result, false)
	b.WriteByte(']')
	return b.String(), humanLine(r)
}

func join(head, msg string) []byte {
	out := make([]byte, 0, len(head)+1+len(msg))
	out = append(out, head...)
	if msg != "" {
		out = append(out, ' ')
		out = append(out, msg...)
	}
	return out
}

func failed(r Record) bool { return strings.EqualFold(r.Result, "failure") }

// timestamp is the TIMESTAMP field: UTC with microseconds, or the NILVALUE when unknown.
func timestamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(timeLayout)
}

// humanLine is MSG: "admin create artifact library/nginx:1.25", with "(failure)" after a failed
// operation. Receivers that show only MSG still show who did what.
func humanLine(r Record) string {
	var parts []string
	for _, p := range []string{r.User, r.Operation, r.ResourceType, r.Resource} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if failed(r) {
		parts = append(parts, "(failure)")
	}
	line := strings.ToValidUTF8(strings.Join(parts, " "), "\uFFFD")
	// One line per message, whatever a resource name holds: many receivers write MSG verbatim.
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f {
			return ' '
		}
		return c
	}, line)
}

// headerField makes s a header field: printable US-ASCII without spaces (each other character
// becomes "-"), at most max bytes, or the NILVALUE when empty.
func headerField(s string, max int) string {
	if s == "" {
		return "-"
	}
	out := make([]byte, 0, len(s))
	for _, c := range s {
		if c < '!' || c > '~' {
			c = '-'
		}
		out = append(out, byte(c))
		if len(out) == max {
			break
		}
	}
	return string(out)
}

// paramEscaper escapes a PARAM-VALUE (RFC 5424 §6.3.3).
var paramEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`)

// cut shortens s to at most n bytes without splitting a UTF-8 sequence.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
