package export_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/berth-registry/berth/ent/cveexport"
	entevent "github.com/berth-registry/berth/ent/event"
	"github.com/berth-registry/berth/event"
	"github.com/berth-registry/berth/server/servertest"
	"github.com/berth-registry/berth/worker/export"
)

// crashingStorage is the real storage whose files fail after limit bytes and are left behind
// as they are, the way a worker that dies mid-export leaves them.
type crashingStorage struct {
	storagedriver.StorageDriver
	limit int64
}

func (s crashingStorage) Writer(ctx context.Context, path string, append bool) (storagedriver.FileWriter, error) {
	w, err := s.StorageDriver.Writer(ctx, path, append)
	return &crashingWriter{FileWriter: w, left: s.limit}, err
}

type crashingWriter struct {
	storagedriver.FileWriter
	left int64
}

func (w *crashingWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > w.left {
		n, _ := w.FileWriter.Write(p[:w.left])
		w.left = 0
		return n, errors.New("worker killed")
	}
	w.left -= int64(len(p))
	return w.FileWriter.Write(p)
}

func (w *crashingWriter) Cancel(context.Context) error { return nil } // a dead process cleans nothing
func (w *crashingWriter) Close() error                 { return w.FileWriter.Close() }

// TestCrashAndRetry: the first attempt dies mid-file; nothing is offered while the partial file
// exists; the retry deletes it and writes the whole file under its final name.
func TestCrashAndRetry(t *testing.T) {
	t.Parallel()
	s := setupScanned(t)
	ctx := context.Background()
	params := export.Params{Projects: []int{s.alpha, s.beta}}
	e := s.env.DB.CVEExport.Create().SetOwner("admin").SetOwnerUserID(1).
		SetParams(map[string]any{"projects": []int{s.alpha, s.beta}}).SaveX(ctx)
	job := func(attempt int) *river.Job[export.Args] {
		return &river.Job[export.Args]{JobRow: &rivertype.JobRow{ID: 1, Attempt: attempt, MaxAttempts: 3}, Args: export.Args{ExportID: e.ID}}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	folder := filepath.Join(s.env.DataDir, "registry", "berth", "cve-exports", fmt.Sprint(e.ID))

	crashing := export.NewWorker(export.NewService(s.pool, s.env.DB, crashingStorage{s.storage(), 300}, log), 0, nil)
	if err := crashing.Work(ctx, job(1)); err == nil {
		t.Fatal("the crashing attempt reported success")
	}
	after := s.env.DB.CVEExport.GetX(ctx, e.ID)
	if after.Status != cveexport.StatusRunning || after.FilePath != "" || after.Error == "" {
		t.Errorf("after the crash: status %s, file %q, error %q", after.Status, after.FilePath, after.Error)
	}
	if left, _ := os.ReadDir(folder); len(left) != 1 || left[0].Name() != "attempt-1.partial" {
		t.Fatalf("after the crash the folder holds %v, want the partial file", left)
	}
	if status, _, _ := s.call("admin", servertest.AdminPassword, "GET", fmt.Sprintf("/api/v2.0/export/cve/download/%d", e.ID), nil, nil); status != 404 {
		t.Errorf("download during the retry = %d, want 404", status)
	}

	svc := export.NewService(s.pool, s.env.DB, s.storage(), log)
	if err := export.NewWorker(svc, 0, nil).Work(ctx, job(2)); err != nil {
		t.Fatalf("retry: %v", err)
	}
	done := s.env.DB.CVEExport.GetX(ctx, e.ID)
	left, _ := os.ReadDir(folder)
	if done.Status != cveexport.StatusSuccess || len(left) != 1 || left[0].Name() != export.FileName(e.ID) {
		t.Fatalf("after the retry: status %s, folder %v", done.Status, left)
	}
	got, _ := os.ReadFile(filepath.Join(folder, export.FileName(e.ID)))
	var want bytes.Buffer
	rows, _, digest, err := export.WriteCSV(ctx, s.pool, params, &want, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) || done.Rows != rows || done.Digest != digest || done.Size != int64(want.Len()) {
		t.Errorf("file after retry (%d rows, %s):\n%s\nwant (%d rows, %s):\n%s", done.Rows, done.Digest, got, rows, digest, want.Bytes())
	}
}

// TestStopBeforeStart: a stopped pending export never writes a file.
func TestStopBeforeStart(t *testing.T) {
	t.Parallel()
	s := setupScanned(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := export.NewService(s.pool, s.env.DB, s.storage(), log)
	e := s.env.DB.CVEExport.Create().SetOwner("admin").SetParams(map[string]any{"projects": []int{s.alpha}}).SaveX(ctx)
	stopped, err := svc.Stop(ctx, nil, e.ID)
	if err != nil || stopped.Status != cveexport.StatusStopped {
		t.Fatalf("Stop = %v, %v", stopped, err)
	}
	job := &river.Job[export.Args]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 3}, Args: export.Args{ExportID: e.ID}}
	if err := export.NewWorker(svc, 0, nil).Work(ctx, job); err != nil {
		t.Fatal(err)
	}
	if after := s.env.DB.CVEExport.GetX(ctx, e.ID); after.Status != cveexport.StatusStopped || after.Rows != 0 || after.FilePath != "" {
		t.Errorf("a stopped export ran: %+v", after)
	}
}

// stoppingStorage is the real storage that receives a stop (River's remote cancellation) as soon
// as the first bytes of the file arrive.
type stoppingStorage struct {
	storagedriver.StorageDriver
	stop context.CancelCauseFunc
}

func (s stoppingStorage) Writer(ctx context.Context, path string, append bool) (storagedriver.FileWriter, error) {
	w, err := s.StorageDriver.Writer(ctx, path, append)
	return &stoppingWriter{FileWriter: w, stop: s.stop}, err
}

type stoppingWriter struct {
	storagedriver.FileWriter
	stop context.CancelCauseFunc
}

func (w *stoppingWriter) Write(p []byte) (int, error) {
	w.stop(river.ErrJobCancelledRemotely)
	return w.FileWriter.Write(p)
}

// TestStopWhileRunning: a stop that arrives mid-file ends the export Stopped, with no file kept.
func TestStopWhileRunning(t *testing.T) {
	t.Parallel()
	s := setupScanned(t)
	ctx, stop := context.WithCancelCause(context.Background())
	defer stop(nil)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := s.env.DB.CVEExport.Create().SetOwner("admin").SetParams(map[string]any{"projects": []int{s.alpha}}).SaveX(ctx)
	w := export.NewWorker(export.NewService(s.pool, s.env.DB, stoppingStorage{s.storage(), stop}, log), 0, nil)
	job := &river.Job[export.Args]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 3}, Args: export.Args{ExportID: e.ID}}
	var cancelled *river.JobCancelError
	if err := w.Work(ctx, job); !errors.As(err, &cancelled) {
		t.Fatalf("Work = %v, want River's job cancellation", err)
	}
	after := s.env.DB.CVEExport.GetX(context.Background(), e.ID)
	if after.Status != cveexport.StatusStopped || after.FilePath != "" || after.FinishedAt == nil {
		t.Errorf("after a stop: %+v", after)
	}
	if left, _ := os.ReadDir(filepath.Join(s.env.DataDir, "registry", "berth", "cve-exports", fmt.Sprint(e.ID))); len(left) != 0 {
		t.Errorf("a stopped export left %v", left)
	}
	if n := s.env.DB.Event.Query().Where(entevent.Type(event.ExportFailed), entevent.JobID(int64(e.ID))).CountX(context.Background()); n != 1 {
		t.Errorf("%d EXPORT_FAILED events for the stopped export, want 1", n)
	}
}
