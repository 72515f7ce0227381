package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/event"
)

// AccessChannel is the PostgreSQL notification channel that tells every replica a permission
// changed. The notification is sent inside the writing transaction, so PostgreSQL delivers it
// exactly when (and only if) the change commits.
const AccessChannel = "berth_cache_access"

// secondPass is how long after an event its keys are invalidated once more: longer than a load
// plus a Redis write (bounded by the Redis timeout) normally take.
const secondPass = time.Second

// TagKey is the key of a tag's digest.
func TagKey(repo, tag string) string { return repo + ":" + tag }

// ManifestKey is the key of a manifest's media type and bytes in a repository.
func ManifestKey(repo, dgst string) string { return repo + "@" + dgst }

// Keys are the cache keys one committed change makes stale.
type Keys struct {
	Tags      []string // TagKey values
	Manifests []string // ManifestKey values
}

// InvalidateKeys forgets keys in both tiers: the writing replica calls it after its commit.
func (c *Cache) InvalidateKeys(ctx context.Context, k Keys) {
	keys := make([]string, 0, len(k.Tags)+len(k.Manifests))
	for _, t := range k.Tags {
		keys = append(keys, c.key(KindTag, t))
	}
	for _, m := range k.Manifests {
		keys = append(keys, c.key(KindManifest, m))
	}
	if len(keys) > 0 {
		c.invalidate(ctx, keys...)
	}
}

// invalidateEvent forgets what a committed event made stale, and reports whether the event was of
// a kind that can make anything stale. Redis was cleared by the replica that made the change; it
// is cleared again here, which is cheap and covers a writer that died between its commit and its
// own invalidation.
func (c *Cache) invalidateEvent(ctx context.Context, e event.Event) bool {
	switch e.Type {
	case event.ArtifactPushed, event.TagCreated, event.TagDeleted:
		var k Keys
		if e.Tag != "" {
			k.Tags = append(k.Tags, TagKey(e.Repository, e.Tag))
		}
		if e.Digest != "" && e.Type == event.ArtifactPushed {
			k.Manifests = append(k.Manifests, ManifestKey(e.Repository, e.Digest))
		}
		c.InvalidateKeys(ctx, k)
	case event.ArtifactDeleted, event.RepositoryDeleted, event.ProjectDeleted:
		if e.Digest != "" {
			c.Invalidate(ctx, KindManifest, ManifestKey(e.Repository, e.Digest))
		}
		// The tags that pointed at what was deleted are not in the event: forget every tag
		// this replica holds. Deletes are rare next to pulls.
		c.ClearLocal(ctx)
		if e.Type == event.ProjectDeleted {
			c.BumpGeneration()
		}
	default:
		return false
	}
	return true
}

// Follow applies every event of bus to this replica's cache until ctx ends. The bus hears every
// replica's committed changes.
//
// A replica that lost or lagged its event stream may have missed invalidations, and the bus does
// not replay them: the moment it notices (the listening connection lost or regained, an event
// dropped because this subscriber fell behind) every in-process entry is made stale (MarkStale)
// and the notice is counted (berth_cache_stream_gaps_total). Redis needs nothing: the writing
// replica deletes its keys there itself.
func (c *Cache) Follow(ctx context.Context, bus *event.Bus) {
	events, stop := bus.SubscribeGaps(1024, func(g event.Gap) { c.streamGap(string(g)) })
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-events:
			c.following.Add(1)
			if !c.invalidateEvent(ctx, e) {
				c.following.Add(-1)
				continue
			}
			// A replica whose load read the database just before the change may still be
			// writing the old value to Redis; a second pass a little later removes it.
			time.AfterFunc(secondPass, func() {
				defer c.following.Add(-1)
				_ = c.invalidateEvent(context.WithoutCancel(ctx), e)
			})
		}
	}
}

// streamGap makes every in-process entry stale after this replica may have missed invalidations,
// and counts it.
func (c *Cache) streamGap(reason string) {
	c.MarkStale()
	streamGaps.WithLabelValues(reason).Inc()
	c.log.Warn("cache: invalidations may have been missed; in-process entries made stale", "reason", reason)
}

// ListenAccess bumps the access generation on every AccessChannel notification until ctx ends.
// A lost connection makes every decision stale (notifications may be missed while it is down),
// and listening again forgets them: a stale decision is served only while the database cannot be
// reached to make it again, and no permission can change then.
func (c *Cache) ListenAccess(ctx context.Context, pool *pgxpool.Pool) {
	for {
		err := c.listenAccess(ctx, pool)
		if ctx.Err() != nil {
			return
		}
		c.streamGap("access_listener_lost")
		c.log.Warn("cache: access listener lost, reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (c *Cache) listenAccess(ctx context.Context, pool *pgxpool.Pool) error {
	pooled, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	conn := pooled.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+AccessChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	c.BumpGeneration() // whatever happened before the LISTEN took effect
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		c.BumpGeneration()
	}
}

// bookkeeping are fields whose changes never change a permission: writing them (every login,
// every use of a token) must not forget every access decision.
var bookkeeping = []string{"last_login_at", "last_used_at", "updated_at"}

// AccessHook is an ent hook that, for every mutation of the entities permissions come from
// (users, memberships, robots, API tokens, projects), sends an AccessChannel notification in the
// mutation's own transaction, so every replica forgets its access decisions when it commits, and
// calls local once the change has committed, so this replica forgets them before the write is
// answered (local may be nil).
func AccessHook(local func()) ent.Hook {
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			switch m.Type() {
			case ent.TypeUser, ent.TypeMember, ent.TypeRobot, ent.TypeAPIToken, ent.TypeProject:
			default:
				return next.Mutate(ctx, m)
			}
			v, err := next.Mutate(ctx, m)
			if err != nil || onlyBookkeeping(m) {
				return v, err
			}
			cm, ok := m.(interface {
				Client() *ent.Client
				Tx() (*ent.Tx, error)
			})
			if !ok {
				return v, nil
			}
			if _, err := cm.Client().ExecContext(ctx, "SELECT pg_notify($1, '')", AccessChannel); err != nil {
				return nil, fmt.Errorf("notify access change: %w", err)
			}
			if local == nil {
				return v, nil
			}
			tx, err := cm.Tx()
			if err != nil {
				local() // not in a transaction: the change has committed
				return v, nil
			}
			tx.OnCommit(func(next ent.Committer) ent.Committer {
				return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
					err := next.Commit(ctx, tx)
					if err == nil {
						local()
					}
					return err
				})
			})
			return v, nil
		})
	}
}

func onlyBookkeeping(m ent.Mutation) bool {
	if !m.Op().Is(ent.OpUpdate|ent.OpUpdateOne) || len(m.ClearedFields()) > 0 {
		return false
	}
	for _, f := range m.Fields() {
		if !slices.Contains(bookkeeping, f) {
			return false
		}
	}
	return true
}

// generationPoll is how often a replica with Redis compares its access generation with the
// shared counter: the bound on staleness when a notification was missed.
const generationPoll = 250 * time.Millisecond

func (c *Cache) generationKey() string { return c.cfg.Prefix + "access-generation" }

// AccessChanged is called by the writer of a committed permission change: this replica forgets
// its decisions at once, and the shared counter in Redis (when configured) moves, so a replica
// that missed the notification (AccessChannel) forgets them at its next poll.
func (c *Cache) AccessChanged(ctx context.Context) {
	c.BumpGeneration()
	if c.redis == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.RedisTimeout)
	defer cancel()
	if err := c.redis.Incr(ctx, c.generationKey()).Err(); err != nil {
		c.log.Debug("cache: redis access generation", "err", err)
	}
}

// WatchSharedGeneration polls the shared access generation in Redis until ctx ends and forgets
// this replica's decisions whenever it moves. Without Redis it returns at once.
func (c *Cache) WatchSharedGeneration(ctx context.Context) {
	if c.redis == nil {
		return
	}
	ticker := time.NewTicker(generationPoll)
	defer ticker.Stop()
	last := int64(-1)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		rctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
		n, err := c.redis.Get(rctx, c.generationKey()).Int64()
		cancel()
		if errors.Is(err, redis.Nil) {
			n, err = 0, nil
		}
		if err != nil {
			continue
		}
		if last >= 0 && n != last {
			c.BumpGeneration()
		}
		last = n
	}
}
