package gc

import (
	"context"
	"fmt"
	"path"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"github.com/opencontainers/go-digest"
)

// slowDriver stands in for object storage: each Delete takes a round trip, and it records how
// many were under way at once.
type slowDriver struct {
	storagedriver.StorageDriver
	now, most atomic.Int32
}

func (d *slowDriver) Delete(ctx context.Context, p string) error {
	n := d.now.Add(1)
	defer d.now.Add(-1)
	for {
		m := d.most.Load()
		if n <= m || d.most.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(20 * time.Millisecond)
	return d.StorageDriver.Delete(ctx, p)
}

func seedBlobs(t *testing.T, d storagedriver.StorageDriver, n int) []candidate {
	t.Helper()
	var cs []candidate
	for i := range n {
		data := []byte(fmt.Sprintf("blob %d %s", i, string(make([]byte, i))))
		dg := digest.FromBytes(data)
		if err := d.PutContent(context.Background(), path.Join(blobDir(dg), "data"), data); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, candidate{id: int64(i + 1), digest: dg, size: int64(len(data))})
	}
	return cs
}

// A batch's storage deletes overlap (Distribution's drivers have no bulk delete), never more than
// deleteConcurrency at once, and each blob's freed bytes are what storage held.
func TestDeleteBatchOverlapsBoundedDeletes(t *testing.T) {
	d := &slowDriver{StorageDriver: inmemory.New()}
	cs := seedBlobs(t, d, batch)
	start := time.Now()
	out := deleteBatch(context.Background(), d, cs, nil, func() bool { return true })
	took := time.Since(start)
	for i, res := range out {
		if res.err != nil || res.handedBack || res.freed != cs[i].size {
			t.Fatalf("blob %d: %+v, want %d bytes freed", i, res, cs[i].size)
		}
		if _, err := d.Stat(context.Background(), path.Join(blobDir(cs[i].digest), "data")); !isNotFound(err) {
			t.Fatalf("blob %d is still stored: %v", i, err)
		}
	}
	if m := d.most.Load(); m < 2 || m > deleteConcurrency {
		t.Fatalf("%d deletes at once, want 2…%d", m, deleteConcurrency)
	}
	// One after another, 50 deletes of 20 ms would take a second.
	t.Logf("%d blobs deleted in %v, at most %d at once", batch, took, d.most.Load())
}

// Once the run's lease is no longer safely held, the blobs not yet started are handed back and
// stay in storage.
func TestDeleteBatchHandsBackWithoutLease(t *testing.T) {
	d := inmemory.New()
	cs := seedBlobs(t, d, 20)
	var mu sync.Mutex
	calls := 0
	held := func() bool {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return calls <= 5
	}
	out := deleteBatch(context.Background(), d, cs, nil, held)
	for i, res := range out {
		_, err := d.Stat(context.Background(), path.Join(blobDir(cs[i].digest), "data"))
		switch {
		case i < 5 && (res.handedBack || res.err != nil || !isNotFound(err)):
			t.Fatalf("blob %d (lease held): %+v, stat %v", i, res, err)
		case i >= 5 && (!res.handedBack || err != nil):
			t.Fatalf("blob %d (lease lost): %+v, stat %v; want handed back and kept", i, res, err)
		}
	}
}
