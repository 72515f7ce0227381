package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// The forwarder's metrics; forwardBehind is also set whenever its state is read.
var (
	forwardBehind = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "berth", Name: "audit_forward_behind", Help: "Audit entries not yet forwarded to syslog."})
	forwardHealthy = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "berth", Name: "audit_forward_healthy", Help: "1 when the last forwarding attempt succeeded."})
	forwardedTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "berth", Name: "audit_forwarded_total", Help: "Audit entries sent to syslog."})
)

// stateKey is the settings row where the forwarder publishes its state for every replica.
const stateKey = "audit.forwarder"

// ForwarderState is what the admin sees of forwarding.
type ForwarderState struct {
	Healthy       bool       `json:"healthy"`
	LastError     string     `json:"last_error"`
	LastErrorAt   *time.Time `json:"last_error_at"`
	LastSuccessAt *time.Time `json:"last_success_at"`
	// Behind is how many entries wait to be sent (counted when read).
	Behind int64 `json:"-"`
}

func loadState(ctx context.Context, pool *pgxpool.Pool) (ForwarderState, error) {
	var st ForwarderState
	return st, LoadSetting(ctx, pool, stateKey, &st)
}

// State reads the forwarder's state as any replica sees it, with the backlog counted now.
func State(ctx context.Context, pool *pgxpool.Pool) (ForwarderState, error) {
	st, err := loadState(ctx, pool)
	if err != nil {
		return st, fmt.Errorf("read forwarder state: %w", err)
	}
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM audit_logs WHERE NOT forwarded").Scan(&st.Behind); err != nil {
		return st, fmt.Errorf("count forwarding backlog: %w", err)
	}
	forwardBehind.Set(float64(st.Behind))
	return st, nil
}
