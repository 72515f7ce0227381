package auth

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// ThrottleLimits say how many failed password logins Berth lets through before it makes the
// guesser wait. Each account and each source address has a bucket of attempts that refills
// evenly over Window: once it is empty, one more attempt is allowed each time a token comes
// back, and every other attempt is refused without looking at the password.
type ThrottleLimits struct {
	// PerAccount is the number of failed logins one account tolerates per Window.
	PerAccount int
	// PerAddress is the number of failed logins (over all accounts) one client address
	// tolerates per Window. It is larger than PerAccount so that one person who mistypes, or
	// one account under attack, does not lock out the others behind the same address.
	PerAddress int
	// Window is how long an emptied bucket takes to fill up again.
	Window time.Duration
}

// DefaultThrottleLimits are the limits of a default installation.
var DefaultThrottleLimits = ThrottleLimits{PerAccount: 10, PerAddress: 100, Window: 10 * time.Minute}

// maxThrottleEntries bounds the buckets kept in memory. Past it, buckets that have filled up
// again (and so remember nothing) are dropped; the per-address buckets still limit a client
// that sprays usernames to grow the table.
const maxThrottleEntries = 100_000

// ThrottledError is a login refused because its account or address failed too often lately.
type ThrottledError struct {
	// RetryAfter is how long the caller must wait before the next attempt is looked at.
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed logins: wait %d seconds and try again", RetryAfterSeconds(e.RetryAfter))
}

// RetryAfterSeconds is d rounded up to whole seconds, at least 1: the value of a Retry-After header.
func RetryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// throttle keeps the failed-login buckets of this process. They are in memory: each replica
// counts its own failures, so a client spread over n replicas gets at most n times the limit.
type throttle struct {
	limits    ThrottleLimits
	mu        sync.Mutex
	accounts  map[string]*rate.Limiter
	addresses map[string]*rate.Limiter
}

func newThrottle(limits ThrottleLimits) *throttle {
	return &throttle{limits: limits, accounts: map[string]*rate.Limiter{}, addresses: map[string]*rate.Limiter{}}
}

// check returns a *ThrottledError if account or address has no attempt left now.
func (t *throttle) check(account, address string, now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var wait time.Duration
	for _, lim := range []*rate.Limiter{t.accounts[account], t.addresses[address]} {
		if lim == nil {
			continue
		}
		if tokens := lim.TokensAt(now); tokens < 1 {
			wait = max(wait, time.Duration((1-tokens)/float64(lim.Limit())*float64(time.Second)))
		}
	}
	if wait > 0 {
		loginAttempts.WithLabelValues("throttled").Inc()
		return &ThrottledError{RetryAfter: wait}
	}
	return nil
}

// fail takes an attempt from the account's and the address's buckets.
func (t *throttle) fail(account, address string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	loginAttempts.WithLabelValues("failed").Inc()
	t.take(t.accounts, account, t.limits.PerAccount, now)
	if address != "" {
		t.take(t.addresses, address, t.limits.PerAddress, now)
	}
}

// succeed forgets an account's failures: whoever got in knew the password.
func (t *throttle) succeed(account string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	loginAttempts.WithLabelValues("succeeded").Inc()
	delete(t.accounts, account)
}

func (t *throttle) take(buckets map[string]*rate.Limiter, key string, burst int, now time.Time) {
	lim := buckets[key]
	if lim == nil {
		if len(buckets) >= maxThrottleEntries {
			t.sweep(buckets, now)
		}
		per := t.limits.Window / time.Duration(max(burst, 1))
		lim = rate.NewLimiter(rate.Every(per), burst)
		buckets[key] = lim
	}
	lim.AllowN(now, 1)
}

// sweep drops the buckets that are full again.
func (t *throttle) sweep(buckets map[string]*rate.Limiter, now time.Time) {
	for k, lim := range buckets {
		if lim.TokensAt(now) >= float64(lim.Burst()) {
			delete(buckets, k)
		}
	}
}

// loginAttempts counts password logins on every door by outcome.
var loginAttempts = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "berth", Name: "login_attempts_total",
	Help: "Password logins on every door (token service, /v2 Basic, GraphQL login, REST Basic) by outcome: succeeded, failed, or throttled (refused unchecked because the account or address failed too often).",
}, []string{"outcome"})

// Collectors are this package's metrics, for the composition root to register.
func Collectors() []prometheus.Collector { return []prometheus.Collector{loginAttempts} }
