package registry

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	v2 "github.com/distribution/distribution/v3/registry/api/v2"
	"github.com/sirupsen/logrus"
)

// Distribution's warnings and errors reach slog; its "error" for a 4xx answer, and its chatter,
// only at debug.
func TestDistributionLogsForwarded(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		level   slog.Level
		entry   func(*logrus.Logger)
		logged  bool
		contain string
	}{
		{"error at warn", slog.LevelWarn, func(l *logrus.Logger) {
			l.WithField("err.code", errcode.ErrorCodeUnknown).WithError(errors.New("disk full")).Error("response completed with error")
		}, true, "disk full"},
		{"4xx at warn", slog.LevelWarn, func(l *logrus.Logger) {
			l.WithField("err.code", v2.ErrorCodeManifestUnknown).Error("response completed with error")
		}, false, ""},
		{"4xx at debug", slog.LevelDebug, func(l *logrus.Logger) {
			l.WithField("err.code", v2.ErrorCodeManifestUnknown).Error("response completed with error")
		}, true, "level=DEBUG"},
		{"warning", slog.LevelWarn, func(l *logrus.Logger) { l.Warn("storage driver slow") }, true, "level=WARN"},
		{"info at warn", slog.LevelWarn, func(l *logrus.Logger) { l.Info("response completed") }, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: c.level}))
			l := logrus.New()
			l.SetOutput(&bytes.Buffer{})
			l.SetLevel(logrus.DebugLevel)
			l.AddHook(logrusHook{log: log})
			c.entry(l)
			out := buf.String()
			if c.logged != (out != "") || !strings.Contains(out, c.contain) {
				t.Fatalf("logged %q", out)
			}
			if c.logged && !strings.Contains(out, "component=distribution") {
				t.Errorf("not marked as Distribution's: %q", out)
			}
		})
	}
}
