package server_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/server/servertest"
)

// Twenty crane pushers (each then pulling its image) on two replicas of one database, while the
// audit log is forwarded: the receiver gets every audit row once, in commit order, so ids only
// ever increase. (Before, rows that a replica's dispatcher numbered early and committed late went
// out after higher ids.)
func TestAuditForwardingInCommitOrderUnderConcurrentPushes(t *testing.T) {
	t.Parallel()
	crane := servertest.Tool(t, "crane")
	one := servertest.Start(t)
	two := servertest.Start(t, func(c *server.Config) {
		c.DatabaseURL, c.DataDir = one.DatabaseURL, one.DataDir // a second replica, sharing storage (and the spool directory)
	})
	recv := newSyslogReceiver(t)
	one.MustGraphQL("admin", servertest.AdminPassword, fmt.Sprintf(`mutation { updateAuditSettings(input: {forwardEndpoint: %q, forwardProtocol: TCP}) { forwardEndpoint } }`, recv.addr), nil, nil)

	const pushers = 20
	var wg sync.WaitGroup
	for i := range pushers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := []*servertest.Env{one, two}[i%2]
			dir := t.TempDir()
			vars := []string{"DOCKER_CONFIG=" + dir}
			ref := fmt.Sprintf("%s/library/order-%02d:v1", env.Host, i)
			servertest.Run(t, vars, crane, "auth", "login", env.Host, "-u", "admin", "-p", servertest.AdminPassword, "--insecure")
			servertest.Run(t, vars, "sh", "-c", fmt.Sprintf("echo order-%d > %s/f && tar -C %s -cf %s/l.tar f", i, dir, dir, dir))
			servertest.Run(t, vars, crane, "append", "--insecure", "-f", dir+"/l.tar", "-t", ref)
			for range 3 {
				servertest.Run(t, vars, crane, "manifest", "--insecure", ref)
			}
		}()
	}
	wg.Wait()

	// Every push and pull is recorded: one row per push (create artifact) and per pull.
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	var want []int
	for {
		want = want[:0]
		rows, err := one.DB.QueryContext(ctx, "SELECT id FROM audit_logs ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int
			_ = rows.Scan(&id)
			want = append(want, id)
		}
		rows.Close()
		var got []int
		for _, m := range recv.messages() {
			sm := rfc5424.FindStringSubmatch(m)
			if sm == nil {
				t.Fatalf("not the RFC 5424 message expected: %q", m)
			}
			id, _ := strconv.Atoi(sm[1])
			got = append(got, id)
		}
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] {
				t.Fatalf("id %d forwarded after %d: not in commit order (or twice)\nreceived %v", got[i], got[i-1], got)
			}
		}
		if len(want) >= pushers*4 && fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("received ids %v\nwant every row once (at least %d): %v", got, pushers*4, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
