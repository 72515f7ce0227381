package syslog_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/berth-registry/berth/audit/syslog"
)

func ExampleFormat() {
	msg := syslog.Format(syslog.Record{
		ID:           42,
		Time:         time.Date(2026, 11, 23, 1, 2, 3, 123456000, time.UTC),
		User:         "admin",
		Project:      "library",
		Operation:    "delete",
		ResourceType: "tag",
		Resource:     `library/nginx:"old"`,
		SourceIP:     "192.0.2.7",
		Result:       "success",
	}, "registry-1")
	fmt.Println(string(msg))
	// Output:
	// <134>1 2026-11-23T01:02:03.123456Z registry-1 berth - audit [audit@32473 id="42" user="admin" operation="delete" resource_type="tag" resource="library/nginx:\"old\"" project="library" time="2026-11-23T01:02:03.123456Z" source_ip="192.0.2.7" result="success"] admin delete tag library/nginx:"old"
}

// The caller owns the backlog: it keeps what Send did not write and, after a pause, sends again
// from the first unwritten record. Over TCP and TLS the receiver may then see a record twice, but
// never out of order and never with one missing.
func ExampleSender_Send() {
	ep, err := syslog.ParseEndpoint("syslog.example.com:6514", "tls")
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := syslog.Check(ctx, ep, 3*time.Second); err != nil {
		log.Fatal(err) // e.g. refuse to save the setting
	}
	sender := syslog.NewSender(ep, "registry-1")
	defer sender.Close()

	backlog := []syslog.Record{ /* read from the audit log, oldest first */ }
	for len(backlog) > 0 {
		n, err := sender.Send(ctx, backlog)
		backlog = backlog[n:] // the caller marks these forwarded
		if err != nil {
			log.Print(err)
			time.Sleep(time.Second)
		}
	}
}
