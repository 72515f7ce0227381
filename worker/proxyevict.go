package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/ent"
	entartifact "github.com/berth-registry/berth/ent/artifact"
	entproject "github.com/berth-registry/berth/ent/project"
	"github.com/berth-registry/berth/ent/repository"
	"github.com/berth-registry/berth/worker/gc"
)

// DefaultProxyCacheTTL is how long an artifact of a proxy-cache project is kept without a pull.
const DefaultProxyCacheTTL = 7 * 24 * time.Hour

// proxyEvictBatch is the most artifacts one run of the eviction job deletes; the next run (an
// hour later) goes on where it stopped.
const proxyEvictBatch = 1000

// ProxyEvictArgs is the hourly job that deletes artifacts of proxy-cache projects that nobody
// pulled for the cache's TTL (a copy never pulled since it was fetched counts from its fetch).
// Deletes are idempotent: two runs at once, or a run after a crash, delete nothing twice.
type ProxyEvictArgs struct{}

// Kind names the job in River's table.
func (ProxyEvictArgs) Kind() string { return "proxy_cache_evict" }

type proxyEvictWorker struct {
	river.WorkerDefaults[ProxyEvictArgs]
	db        *ent.Client
	artifacts gc.ArtifactDeleter
	ttl       time.Duration
}

func (w *proxyEvictWorker) Work(ctx context.Context, job *river.Job[ProxyEvictArgs]) error {
	cutoff := time.Now().Add(-w.ttl)
	old, err := w.db.Artifact.Query().
		Where(entartifact.HasRepositoryWith(repository.HasProjectWith(entproject.ProxyRegistryIDNotNil())),
			entartifact.Or(entartifact.PullTimeLT(cutoff),
				entartifact.And(entartifact.PullTimeIsNil(), entartifact.PushTimeLT(cutoff)))).
		WithRepository().Limit(proxyEvictBatch).All(ctx)
	if err != nil {
		return fmt.Errorf("proxy-cache eviction: list artifacts not pulled since %s: %w", cutoff.Format(time.RFC3339), err)
	}
	for _, a := range old {
		if err := w.artifacts.DeleteArtifact(ctx, a.Edges.Repository.Name, digest.Digest(a.Digest)); err != nil {
			return fmt.Errorf("proxy-cache eviction: delete %s@%s: %w", a.Edges.Repository.Name, a.Digest, err)
		}
	}
	return nil
}
