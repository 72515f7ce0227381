package syslog_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/berth-registry/berth/audit/syslog"
)

// pull is a known record; its time is in another zone and has nanoseconds, both of which the
// message must drop (UTC, microseconds).
func pull() syslog.Record {
	cet := time.FixedZone("CET", 3600)
	return syslog.Record{
		ID: 7, Time: time.Date(2026, 11, 23, 2, 2, 3, 123456789, cet),
		User: "admin", Project: "library", Operation: "create", ResourceType: "artifact",
		Resource: "library/nginx:1.25", SourceIP: "10.0.0.1", Result: "success",
	}
}

func TestFormatGolden(t *testing.T) {
	t.Parallel()
	got := string(syslog.Format(pull(), "registry-1"))
	want := `<134>1 2026-11-23T01:02:03.123456Z registry-1 berth - audit [audit@32473 id="7" user="admin" operation="create" resource_type="artifact" resource="library/nginx:1.25" project="library" time="2026-11-23T01:02:03.123456Z" source_ip="10.0.0.1" result="success"] admin create artifact library/nginx:1.25`
	if got != want {
		t.Fatalf("Format =\n%s\nwant\n%s", got, want)
	}
	m, err := parse([]byte(got))
	if err != nil {
		t.Fatalf("the strict parser refuses the golden message: %v", err)
	}
	if m.Pri != 134 || m.Timestamp != "2026-11-23T01:02:03.123456Z" || m.Hostname != "registry-1" || m.AppName != "berth" ||
		m.ProcID != "-" || m.MsgID != "audit" || len(m.SD) != 1 || m.SD[0].ID != "audit@32473" ||
		m.Msg != "admin create artifact library/nginx:1.25" {
		t.Fatalf("parsed: %+v", m)
	}
	if strings.HasPrefix(m.Msg, "\uFEFF") {
		t.Fatal("MSG starts with a BOM")
	}
}

func TestFormatFailureIsNotice(t *testing.T) {
	t.Parallel()
	r := pull()
	r.Operation, r.ResourceType, r.Resource, r.Result = "login", "user", "admin", "failure"
	m, err := parse(syslog.Format(r, "h"))
	if err != nil {
		t.Fatal(err)
	}
	// local0 (16) × 8 + notice (5).
	if m.Pri != 133 {
		t.Errorf("PRI of a failure = %d, want 133", m.Pri)
	}
	if v, _ := m.param("audit@32473", "result"); v != "failure" {
		t.Errorf("result = %q", v)
	}
	if m.Msg != "admin login user admin (failure)" {
		t.Errorf("MSG = %q", m.Msg)
	}
}

// Values with the three characters RFC 5424 makes senders escape, and text that is not ASCII,
// come out of the strict parser exactly as they went in.
func TestFormatEscapingRoundTrips(t *testing.T) {
	t.Parallel()
	for _, value := range []string{
		`say "hi"`, `back\slash`, `a]b`, `]`, `\`, `"`, `\"`, `\]`, `a\`, `]]]"""\\\`, `x\y"z]w`,
		"José", "山田太郎", "robot$ci+deploy", "emoji 🚢 tag", "tab\there",
	} {
		r := pull()
		r.User, r.Project, r.Resource, r.SourceIP = value, "p-"+value, "library/"+value, value
		raw := syslog.Format(r, "h")
		m, err := parse(raw)
		if err != nil {
			t.Errorf("value %q: strict parse of %q: %v", value, raw, err)
			continue
		}
		p := m.auditParams(t)
		if p["user"] != value || p["project"] != "p-"+value || p["resource"] != "library/"+value || p["source_ip"] != value {
			t.Errorf("value %q came back as %q", value, p)
		}
		if !utf8.ValidString(m.Msg) {
			t.Errorf("value %q: MSG is not UTF-8: %q", value, m.Msg)
		}
	}
}

func TestFormatFields(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("h", 300)
	for _, tc := range []struct {
		name     string
		hostname string
		edit     func(*syslog.Record)
		check    func(t *testing.T, m message, p map[string]string)
	}{
		{name: "empty hostname is the NILVALUE", check: func(t *testing.T, m message, _ map[string]string) {
			if m.Hostname != "-" {
				t.Errorf("HOSTNAME = %q", m.Hostname)
			}
		}},
		{name: "hostname made printable ASCII", hostname: "web 1\tzürich\n", check: func(t *testing.T, m message, _ map[string]string) {
			if m.Hostname != "web-1-z-rich-" {
				t.Errorf("HOSTNAME = %q", m.Hostname)
			}
		}},
		{name: "hostname cut at 255", hostname: long, check: func(t *testing.T, m message, _ map[string]string) {
			if m.Hostname != long[:255] {
				t.Errorf("HOSTNAME has %d characters", len(m.Hostname))
			}
		}},
		{name: "empty optional parameters left out",
			edit: func(r *syslog.Record) { r.Project, r.SourceIP, r.Result = "", "", "" },
			check: func(t *testing.T, m message, p map[string]string) {
				for _, name := range []string{"project", "source_ip", "result"} {
					if _, ok := p[name]; ok {
						t.Errorf("empty %s is in the message", name)
					}
				}
				if m.Pri != 134 {
					t.Errorf("PRI = %d", m.Pri)
				}
			}},
		{name: "required parameters kept when empty",
			edit: func(r *syslog.Record) { *r = syslog.Record{ID: 9, Time: r.Time} },
			check: func(t *testing.T, m message, p map[string]string) {
				want := map[string]string{"id": "9", "user": "", "operation": "", "resource_type": "", "resource": "", "time": "2026-11-23T01:02:03.123456Z"}
				if len(p) != len(want) {
					t.Errorf("parameters %q, want %q", p, want)
				}
				for k, v := range want {
					if got, ok := p[k]; !ok || got != v {
						t.Errorf("%s = %q (present %v), want %q", k, got, ok, v)
					}
				}
				if m.HasMsg {
					t.Errorf("MSG %q for a record with nothing to say", m.Msg)
				}
			}},
		{name: "zero time is the NILVALUE",
			edit: func(r *syslog.Record) { r.Time = time.Time{} },
			check: func(t *testing.T, m message, p map[string]string) {
				if _, ok := p["time"]; m.Timestamp != "-" || ok {
					t.Errorf("TIMESTAMP %q, time parameter present %v", m.Timestamp, ok)
				}
			}},
		{name: "invalid UTF-8 replaced",
			edit: func(r *syslog.Record) { r.User = "bad\xff\xfeuser" },
			check: func(t *testing.T, m message, p map[string]string) {
				if p["user"] != "bad\uFFFDuser" {
					t.Errorf("user = %q", p["user"])
				}
			}},
		{name: "MSG stays one line",
			edit: func(r *syslog.Record) { r.Resource = "library/x\nforged line\r" },
			check: func(t *testing.T, m message, p map[string]string) {
				if strings.ContainsAny(m.Msg, "\r\n") || m.Msg != "admin create artifact library/x forged line " {
					t.Errorf("MSG = %q", m.Msg)
				}
				if p["resource"] != "library/x\nforged line\r" {
					t.Errorf("the structured data must keep the value: %q", p["resource"])
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := pull()
			if tc.edit != nil {
				tc.edit(&r)
			}
			m, err := parse(syslog.Format(r, tc.hostname))
			if err != nil {
				t.Fatalf("strict parse: %v", err)
			}
			tc.check(t, m, m.auditParams(t))
		})
	}
}

// The parser the other tests rely on must accept what RFC 5424 allows (its own examples, §6.5)
// and refuse what it does not, or a passing test would prove nothing.
func TestStrictParser(t *testing.T) {
	t.Parallel()
	for _, good := range []string{
		"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8",
		`<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.`,
		`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry...`,
		`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]`,
		`<0>1 - - - - - -`,
		`<191>1 2026-11-23T01:02:03Z h a p m [timeQuality tzKnown="1"] `,
		`<13>1 2026-11-23T01:02:03.5+01:00 h a p m [x@1.2.3 v="a\"b\\c\]d"] msg`,
	} {
		if _, err := parse([]byte(good)); err != nil {
			t.Errorf("refused a valid message %q: %v", good, err)
		}
	}
	const ts = "2026-11-23T01:02:03Z"
	for reason, bad := range map[string]string{
		"no PRI":                        `134>1 ` + ts + ` h a p m -`,
		"PRI above 191":                 `<192>1 ` + ts + ` h a p m -`,
		"PRI of four digits":            `<0134>1 ` + ts + ` h a p m -`,
		"PRI not a number":              `<1a4>1 ` + ts + ` h a p m -`,
		"VERSION 2":                     `<134>2 ` + ts + ` h a p m -`,
		"VERSION 01":                    `<134>01 ` + ts + ` h a p m -`,
		"no SP after VERSION":           `<134>1` + ts + ` h a p m -`,
		"TIMESTAMP words":               `<134>1 yesterday h a p m -`,
		"TIMESTAMP lower-case t":        `<134>1 2026-11-23t01:02:03Z h a p m -`,
		"TIMESTAMP lower-case z":        `<134>1 2026-11-23T01:02:03z h a p m -`,
		"TIMESTAMP 7 fraction digits":   `<134>1 2026-11-23T01:02:03.1234567Z h a p m -`,
		"TIMESTAMP without zone":        `<134>1 2026-11-23T01:02:03 h a p m -`,
		"TIMESTAMP leap second":         `<134>1 2026-12-31T23:59:60Z h a p m -`,
		"TIMESTAMP month 13":            `<134>1 2026-13-01T01:02:03Z h a p m -`,
		"TIMESTAMP 30 February":         `<134>1 2026-02-30T01:02:03Z h a p m -`,
		"two spaces (empty HOSTNAME)":   `<134>1 ` + ts + `  a p m -`,
		"HOSTNAME not ASCII":            `<134>1 ` + ts + ` hôst a p m -`,
		"HOSTNAME of 256":               `<134>1 ` + ts + ` ` + strings.Repeat("h", 256) + ` a p m -`,
		"APP-NAME of 49":                `<134>1 ` + ts + ` h ` + strings.Repeat("a", 49) + ` p m -`,
		"PROCID of 129":                 `<134>1 ` + ts + ` h a ` + strings.Repeat("p", 129) + ` m -`,
		"MSGID of 33":                   `<134>1 ` + ts + ` h a p ` + strings.Repeat("m", 33) + ` -`,
		"no STRUCTURED-DATA":            `<134>1 ` + ts + ` h a p m`,
		"STRUCTURED-DATA not [ or -":    `<134>1 ` + ts + ` h a p m hello`,
		"SD-ELEMENT not closed":         `<134>1 ` + ts + ` h a p m [x@1 a="b"`,
		"PARAM-VALUE not quoted":        `<134>1 ` + ts + ` h a p m [x@1 a=b]`,
		"']' not escaped":               `<134>1 ` + ts + ` h a p m [x@1 a="b]"]`,
		"'\"' not escaped":              `<134>1 ` + ts + ` h a p m [x@1 a="b"c"]`,
		"'\\' not escaped":              `<134>1 ` + ts + ` h a p m [x@1 a="b\c"]`,
		"PARAM-VALUE not UTF-8":         "<134>1 " + ts + " h a p m [x@1 a=\"\xff\"]",
		"PARAM-NAME empty":              `<134>1 ` + ts + ` h a p m [x@1 ="b"]`,
		"PARAM-NAME of 33":              `<134>1 ` + ts + ` h a p m [x@1 ` + strings.Repeat("n", 33) + `="b"]`,
		"SD-ID neither IANA nor @":      `<134>1 ` + ts + ` h a p m [audit a="b"]`,
		"SD-ID with a bad number":       `<134>1 ` + ts + ` h a p m [audit@x a="b"]`,
		"SD-ID twice":                   `<134>1 ` + ts + ` h a p m [x@1 a="b"][x@1 c="d"]`,
		"two spaces in SD-ELEMENT":      `<134>1 ` + ts + ` h a p m [x@1  a="b"]`,
		"MSG without SP":                `<134>1 ` + ts + ` h a p m [x@1 a="b"]msg`,
		"MSG with a BOM but not UTF-8":  "<134>1 " + ts + " h a p m - \xEF\xBB\xBF\xff",
		"nothing after NILVALUE but SD": `<134>1 ` + ts + ` h a p m -[x@1 a="b"]`,
	} {
		if _, err := parse([]byte(bad)); err == nil {
			t.Errorf("accepted a message with %s: %q", reason, bad)
		}
	}
}
