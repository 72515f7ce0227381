package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisBudget bounds each Redis call of the proxy cache, as the cache's own calls are bounded.
const redisBudget = 250 * time.Millisecond

// lockTTL is how long a replica's claim on a fetch lasts unless renewed; it is renewed every
// third of it while the fetch runs, so a replica that dies frees the fetch within lockTTL.
const lockTTL = 15 * time.Second

// errWaitBudget says another replica's fetch did not end within the wait budget.
var errWaitBudget = errors.New("waited too long for another replica's fetch from upstream")

// fetchLocks make one replica fetch what many miss at once: a claim is a Redis key set with NX
// and a TTL, renewed while its holder fetches and deleted (by its holder only) when it is done;
// the others wait until the result is in the shared storage, or the claim is gone (its holder
// failed or died: one of them claims it next), or their budget is spent.
type fetchLocks struct {
	rdb *redis.Client
	log *slog.Logger
}

// release and renew act only on the holder's own claim.
var (
	releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)
	renewScript   = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)
)

// run calls fetch under the claim on key, or, when another replica holds it, waits (at most
// budget) until done reports that its result is stored. Redis being unreachable is no reason to
// fail a pull: the fetch then runs unclaimed (coalesced within this process only).
func (l *fetchLocks) run(ctx context.Context, key string, budget time.Duration, done func(context.Context) bool, fetch func(context.Context) error) error {
	lock := "berth:proxy:fetch:" + key
	token := newToken()
	deadline := time.Now().Add(budget)
	delay := 10 * time.Millisecond
	for {
		ok, err := l.claim(ctx, lock, token)
		if err != nil {
			l.log.Warn("proxy cache: Redis unreachable, fetching without the replicas' lock", "key", key, "err", err)
			return fetch(ctx)
		}
		if ok {
			return l.holding(ctx, lock, token, done, fetch)
		}
		// Another replica fetches: wait for what it stores.
		for {
			if done(ctx) {
				return nil
			}
			if !time.Now().Before(deadline) {
				return fmt.Errorf("%w (%s)", errWaitBudget, budget)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(delay):
			}
			delay = min(delay*2, 250*time.Millisecond)
			cctx, cancel := context.WithTimeout(ctx, redisBudget)
			n, err := l.rdb.Exists(cctx, lock).Result()
			cancel()
			if err == nil && n == 0 {
				break // its holder is gone: claim it (or see its result)
			}
		}
	}
}

// claimAttempts is how many times a claim is tried when Redis does not answer in time (a loaded
// host or a dial timing out) before the fetch runs unclaimed.
const claimAttempts = 4

// claim tries to take lock for token, asking again when Redis does not answer in time.
func (l *fetchLocks) claim(ctx context.Context, lock, token string) (bool, error) {
	var err error
	for i := range claimAttempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return false, ctx.Err()
			case <-time.After(time.Duration(i) * 50 * time.Millisecond):
			}
		}
		cctx, cancel := context.WithTimeout(ctx, redisBudget)
		var ok bool
		ok, err = l.rdb.SetNX(cctx, lock, token, lockTTL).Result()
		cancel()
		if err == nil {
			return ok, nil
		}
	}
	return false, err
}

// holding runs fetch while holding the claim lock, renewing it, and releases it after.
func (l *fetchLocks) holding(ctx context.Context, lock, token string, done func(context.Context) bool, fetch func(context.Context) error) error {
	stop := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(lockTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				cctx, cancel := context.WithTimeout(ctx, redisBudget)
				_ = renewScript.Run(cctx, l.rdb, []string{lock}, token, lockTTL.Milliseconds()).Err()
				cancel()
			}
		}
	}()
	defer func() {
		close(stop)
		<-renewed
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisBudget)
		_ = releaseScript.Run(cctx, l.rdb, []string{lock}, token).Err()
		cancel()
	}()
	if done(ctx) {
		return nil // stored by the holder before us
	}
	return fetch(ctx)
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
