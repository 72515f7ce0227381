package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/berth-registry/berth/audit"
	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ent"
	"github.com/berth-registry/berth/ent/retentionpolicy"
	"github.com/berth-registry/berth/ent/retentionrun"
	"github.com/berth-registry/berth/fault"
	"github.com/berth-registry/berth/worker/run"
	"github.com/berth-registry/berth/worker/schedule"
)

// parseSchedule reads a policy's schedule column ("" is none).
func parseSchedule(raw string) schedule.Schedule {
	s := schedule.Schedule{Kind: schedule.None}
	if raw != "" {
		_ = json.Unmarshal([]byte(raw), &s)
	}
	return s
}

// Schedule is when project projectID's policy runs by itself.
func (s *Service) Schedule(ctx context.Context, projectID int) (schedule.Schedule, error) {
	if _, err := s.projects.Get(ctx, projectID, auth.ActionReadRetention); err != nil {
		return schedule.Schedule{}, err
	}
	p, err := s.db.RetentionPolicy.Query().Where(retentionpolicy.ProjectID(projectID)).Only(ctx)
	if ent.IsNotFound(err) {
		return schedule.Schedule{Kind: schedule.None}, nil
	}
	if err != nil {
		return schedule.Schedule{}, fmt.Errorf("retention schedule of project %d: %w", projectID, err)
	}
	return parseSchedule(p.Schedule), nil
}

// SetSchedule sets when project projectID's policy runs by itself (NONE: only on demand).
func (s *Service) SetSchedule(ctx context.Context, projectID int, kind schedule.Kind, cron string) (schedule.Schedule, error) {
	proj, err := s.projects.Get(ctx, projectID, auth.ActionManageRetention)
	if err != nil {
		return schedule.Schedule{}, err
	}
	sc := schedule.Schedule{Kind: kind, Cron: cron, UpdatedAt: time.Now().UTC()}
	if err := sc.Validate(); err != nil {
		return schedule.Schedule{}, fault.BadInput("%s", err.Error())
	}
	b, _ := json.Marshal(sc)
	err = s.db.RetentionPolicy.Create().SetProjectID(projectID).SetSchedule(string(b)).
		OnConflictColumns(retentionpolicy.FieldProjectID).UpdateSchedule().UpdateUpdatedAt().Exec(ctx)
	if err != nil {
		return schedule.Schedule{}, fmt.Errorf("save retention schedule of project %d: %w", projectID, err)
	}
	s.audit.Log(ctx, audit.Entry{Project: proj.Name, Operation: audit.OpUpdate, ResourceType: "retention_schedule", Resource: proj.Name})
	return sc, nil
}

// Follow streams run id as it changes, until it ends (RETENTION_* events, or a poll).
func (s *Service) Follow(ctx context.Context, id int) (<-chan *ent.RetentionRun, error) {
	return run.Follow(ctx, s.bus, id, run.Followed[*ent.RetentionRun]{
		Events: runEvents,
		Load:   func(ctx context.Context) (*ent.RetentionRun, error) { return s.load(ctx, id, auth.ActionReadRetention) },
		Done:   func(r *ent.RetentionRun) bool { return run.Finished(r.Status) },
		Same: func(a, b *ent.RetentionRun) bool {
			return a.Status == b.Status && a.ArtifactsTotal == b.ArtifactsTotal && a.ArtifactsDeleted == b.ArtifactsDeleted
		},
	})
}

// SchedulerArgs is the periodic job (every minute, on River's elected leader) that starts the
// scheduled runs that are due.
type SchedulerArgs struct{ run.Minutely }

// Kind names the job in River's table.
func (SchedulerArgs) Kind() string { return "tag_retention_scheduler" }

// Scheduler works SchedulerArgs.
type Scheduler struct {
	river.WorkerDefaults[SchedulerArgs]
	db   *ent.Client
	pool *pgxpool.Pool
	log  *slog.Logger
}

// NewScheduler returns the scheduler worker.
func NewScheduler(db *ent.Client, pool *pgxpool.Pool, log *slog.Logger) *Scheduler {
	return &Scheduler{db: db, pool: pool, log: log}
}

// Work starts each due policy's run (skipping a project whose last run is still under way) and
// records when it ran.
func (w *Scheduler) Work(ctx context.Context, _ *river.Job[SchedulerArgs]) error {
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	_, err = w.StartDue(ctx, client, time.Now())
	return err
}

// StartDue starts the run of every policy whose schedule is due at now, records now as its last
// run, and returns the projects it started a run for (a project whose run is under way is skipped
// but its schedule still advances, as Harbor's does). Work calls it every minute; tests call it
// with a chosen time.
func (w *Scheduler) StartDue(ctx context.Context, client *river.Client[pgx.Tx], now time.Time) ([]int, error) {
	policies, err := w.db.RetentionPolicy.Query().Where(retentionpolicy.ScheduleNEQ("")).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("retention scheduler: %w", err)
	}
	var started []int
	for _, p := range policies {
		sc := parseSchedule(p.Schedule)
		if sc.Kind == schedule.None || !sc.Due(now) {
			continue
		}
		_, err := Start(ctx, w.pool, client, p.ProjectID, false, retentionrun.TriggerSchedule, "scheduler")
		if err != nil && !errors.Is(err, run.ErrBusy) {
			w.log.Warn("retention scheduler: start", "project_id", p.ProjectID, "err", err)
			continue
		}
		if err == nil {
			started = append(started, p.ProjectID)
		}
		last := now.UTC()
		sc.LastRunAt = &last
		b, _ := json.Marshal(sc)
		if err := w.db.RetentionPolicy.UpdateOne(p).SetSchedule(string(b)).Exec(ctx); err != nil {
			return started, fmt.Errorf("retention scheduler: %w", err)
		}
	}
	return started, nil
}
