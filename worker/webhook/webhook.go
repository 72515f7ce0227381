// Package webhook delivers events to the HTTP endpoints of projects' webhook policies: it turns
// dispatched events into delivery rows and River jobs (in the dispatcher's transaction, so none is
// lost or doubled), sends them with retries and exponential back-off, signs every body with
// HMAC-SHA256, and keeps the history of each delivery. Receivers never slow a push: everything
// here runs after the push has answered. Policies is the policy domain service: who may see and
// change a project's policies and what a policy must hold.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/egress"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/webhookdelivery"
	"github.com/berth-registry/berth/event"
)

// MaxAttempts is how many times a delivery is tried before it is marked failed.
const MaxAttempts = 10

// Queue is the River queue deliveries run on, apart from other jobs so that slow receivers
// cannot hold up exports or scans.
const Queue = "webhooks"

// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the body with the policy's secret>".
const SignatureHeader = "X-Berth-Signature-256"

// DeliveryArgs is the job that sends one delivery.
type DeliveryArgs struct {
	DeliveryID int `json:"delivery_id"`
}

// Kind names the job in River's table.
func (DeliveryArgs) Kind() string { return "webhook_delivery" }

// InsertOpts puts deliveries on their own queue with Berth's attempt limit.
func (DeliveryArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: MaxAttempts}
}

// Service creates deliveries: for dispatched events (as an event.Consumer) and for "send a test
// event".
type Service struct {
	pool         *pgxpool.Pool
	db           *ent.Client
	jobs         *river.Client[pgx.Tx]
	registryHost string
}

// NewService returns a Service; registryHost (host[:port]) goes into payloads' resource URLs.
func NewService(pool *pgxpool.Pool, db *ent.Client, jobs *river.Client[pgx.Tx], registryHost string) *Service {
	return &Service{pool: pool, db: db, jobs: jobs, registryHost: registryHost}
}

// NewSecret returns a random HMAC key for a new policy.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type policyRow struct {
	id     int
	types  []event.Type
	format string
}

// Consume creates a delivery and a job for every enabled policy that wants each event.
func (s *Service) Consume(ctx context.Context, tx pgx.Tx, events []event.Event) error {
	var jobs []river.InsertManyParams
	for _, e := range events {
		if e.ProjectID == 0 {
			continue
		}
		policies, err := enabledPolicies(ctx, tx, e.ProjectID, e.Type)
		if err != nil {
			return err
		}
		if len(policies) == 0 {
			continue
		}
		repo, err := repositoryInfo(ctx, tx, e)
		if err != nil {
			return err
		}
		for _, p := range policies {
			body, err := Body(p.format, strconv.FormatInt(e.ID, 10), e, repo, s.registryHost)
			if err != nil {
				return err
			}
			id, err := insertDelivery(ctx, tx, p.id, e.Type, body, false)
			if err != nil {
				return err
			}
			jobs = append(jobs, river.InsertManyParams{Args: DeliveryArgs{DeliveryID: id}})
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	if _, err := s.jobs.InsertManyTx(ctx, tx, jobs); err != nil {
		return fmt.Errorf("queue webhook deliveries: %w", err)
	}
	return nil
}

func enabledPolicies(ctx context.Context, tx pgx.Tx, projectID int, typ event.Type) ([]policyRow, error) {
	rows, err := tx.Query(ctx, `SELECT id, event_types, payload_format FROM webhook_policies WHERE project_id = $1 AND enabled`, projectID)
	if err != nil {
		return nil, fmt.Errorf("webhook policies of project %d: %w", projectID, err)
	}
	defer rows.Close()
	var out []policyRow
	for rows.Next() {
		var (
			p   policyRow
			raw []byte
		)
		if err := rows.Scan(&p.id, &raw, &p.format); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, &p.types); err != nil {
			return nil, fmt.Errorf("webhook policy %d: event types: %w", p.id, err)
		}
		for _, t := range p.types {
			if t == typ {
				out = append(out, p)
				break
			}
		}
	}
	return out, rows.Err()
}

func repositoryInfo(ctx context.Context, tx pgx.Tx, e event.Event) (repoInfo, error) {
	var info repoInfo
	var created *time.Time
	err := tx.QueryRow(ctx, `SELECT p.public, (SELECT created_at FROM repositories WHERE name = $2) FROM projects p WHERE p.id = $1`,
		e.ProjectID, e.Repository).Scan(&info.public, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return info, nil
	}
	if created != nil {
		info.dateCreated = *created
	}
	return info, err
}

func insertDelivery(ctx context.Context, tx pgx.Tx, policyID int, typ event.Type, body []byte, test bool) (int, error) {
	var id int
	now := time.Now().UTC()
	err := tx.QueryRow(ctx, `
INSERT INTO webhook_deliveries (event_type, payload, status, attempts, response_excerpt, error, test, created_at, updated_at, policy_id)
VALUES ($1, $2, 'PENDING', 0, '', '', $3, $4, $4, $5) RETURNING id`, string(typ), string(body), test, now, policyID).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record webhook delivery: %w", err)
	}
	return id, nil
}

// SendTest queues a sample ARTIFACT_PUSHED event to the policy's endpoint, whatever event types the
// policy subscribes to, and returns the delivery to watch.
func (s *Service) SendTest(ctx context.Context, policy *ent.WebhookPolicy, projectName, operator string) (*ent.WebhookDelivery, error) {
	e := event.Event{
		Type: event.ArtifactPushed, OccurredAt: time.Now().UTC(), Operator: operator, ProjectName: projectName,
		Repository: projectName + "/webhook-test", Tag: "test", Digest: "sha256:" + strings.Repeat("0", 64),
	}
	body, err := Body(string(policy.PayloadFormat), "test-"+strconv.FormatInt(time.Now().UnixNano(), 10), e, repoInfo{}, s.registryHost)
	if err != nil {
		return nil, err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	id, err := insertDelivery(ctx, tx, policy.ID, e.Type, body, true)
	if err != nil {
		return nil, err
	}
	if _, err := s.jobs.InsertTx(ctx, tx, DeliveryArgs{DeliveryID: id}, nil); err != nil {
		return nil, fmt.Errorf("queue test delivery: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return s.db.WebhookDelivery.Get(ctx, id)
}

// Worker sends deliveries.
type Worker struct {
	river.WorkerDefaults[DeliveryArgs]
	db        *ent.Client
	log       *slog.Logger
	retryBase time.Duration
	client    *http.Client
	insecure  *http.Client
}

// NewWorker returns the delivery worker. Retries wait retryBase, then twice that, and so on, up to
// an hour. Every connection goes through policy, which refuses internal addresses after DNS (a
// policy saved when its name pointed outside cannot be turned inward later); redirects are never
// followed.
func NewWorker(db *ent.Client, log *slog.Logger, retryBase time.Duration, policy *egress.Policy) *Worker {
	return &Worker{db: db, log: log, retryBase: retryBase,
		client: policy.Client(10*time.Second, false), insecure: policy.Client(10*time.Second, true)}
}

// NextRetry backs off exponentially.
func (w *Worker) NextRetry(job *river.Job[DeliveryArgs]) time.Time {
	wait := w.retryBase << min(job.Attempt-1, 20)
	return time.Now().Add(min(wait, time.Hour))
}

// Timeout bounds one attempt, the receiver's answer included.
func (w *Worker) Timeout(*river.Job[DeliveryArgs]) time.Duration { return 30 * time.Second }

// Work makes one attempt and records its outcome; an error makes River retry.
func (w *Worker) Work(ctx context.Context, job *river.Job[DeliveryArgs]) error {
	d, err := w.db.WebhookDelivery.Query().Where(webhookdelivery.ID(job.Args.DeliveryID)).WithPolicy().Only(ctx)
	if ent.IsNotFound(err) {
		return river.JobCancel(fmt.Errorf("delivery %d is gone (policy deleted)", job.Args.DeliveryID))
	}
	if err != nil {
		return err
	}
	p := d.Edges.Policy
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Address, strings.NewReader(d.Payload))
	if err != nil {
		return river.JobCancel(fmt.Errorf("webhook address %q is not a URL", egress.Redact(p.Address)))
	}
	mac := hmac.New(sha256.New, []byte(p.Secret))
	mac.Write([]byte(d.Payload))
	req.Header.Set(SignatureHeader, "sha256="+hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("X-Berth-Event", d.EventType)
	req.Header.Set("X-Berth-Delivery", strconv.Itoa(d.ID))
	req.Header.Set("User-Agent", "Berth-Webhook/1")
	if p.PayloadFormat == "CLOUDEVENTS" {
		req.Header.Set("Content-Type", "application/cloudevents+json")
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	if p.AuthHeader != "" {
		req.Header.Set("Authorization", p.AuthHeader)
	}
	client := w.client
	if p.SkipCertVerify {
		client = w.insecure
	}

	start := time.Now()
	resp, sendErr := client.Do(req)
	latency := time.Since(start).Milliseconds()
	up := d.Update().SetAttempts(job.Attempt).SetLatencyMs(latency)
	var outcome error
	if sendErr != nil {
		outcome = sendErr
		up.ClearStatusCode().SetResponseExcerpt("").SetError(truncate(sendErr.Error(), 1024))
	} else {
		excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		up.SetStatusCode(resp.StatusCode).SetResponseExcerpt(truncate(string(excerpt), 1024))
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			outcome = fmt.Errorf("receiver answered %s", resp.Status)
			up.SetError(outcome.Error())
		} else {
			up.SetError("")
		}
	}
	switch {
	case outcome == nil:
		up.SetStatus(webhookdelivery.StatusSucceeded)
	case job.Attempt >= job.MaxAttempts:
		up.SetStatus(webhookdelivery.StatusFailed)
	}
	if err := up.Exec(ctx); err != nil {
		return fmt.Errorf("record delivery %d: %w", d.ID, err)
	}
	if outcome != nil {
		return fmt.Errorf("delivery %d to %s: %w", d.ID, egress.Redact(p.Address), outcome)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
