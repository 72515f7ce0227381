package registry

import (
	"context"
	"io"
	"log/slog"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/sirupsen/logrus"
)

// forwardDistributionLogs sends the embedded Distribution's logrus lines to log: at warn and above,
// or everything when log is at debug. Distribution logs every 4xx answer (a docker client's first
// unauthenticated request, a pull of a missing tag) as an error; those go at debug, since Berth
// answers them as designed. logrus is process-wide: the last registry built owns it.
func forwardDistributionLogs(ctx context.Context, log *slog.Logger) {
	std := logrus.StandardLogger()
	std.SetOutput(io.Discard)
	level := logrus.WarnLevel
	if log.Enabled(ctx, slog.LevelDebug) {
		level = logrus.DebugLevel
	}
	std.SetLevel(level)
	hooks := logrus.LevelHooks{}
	hooks.Add(logrusHook{log: log})
	std.ReplaceHooks(hooks)
}

type logrusHook struct{ log *slog.Logger }

func (logrusHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h logrusHook) Fire(e *logrus.Entry) error {
	level := slog.LevelDebug
	switch {
	case e.Level <= logrus.ErrorLevel:
		level = slog.LevelError
	case e.Level == logrus.WarnLevel:
		level = slog.LevelWarn
	case e.Level == logrus.InfoLevel:
		level = slog.LevelInfo
	}
	if code, ok := e.Data["err.code"].(errcode.ErrorCode); ok && code.Descriptor().HTTPStatusCode < 500 {
		level = slog.LevelDebug
	}
	ctx := e.Context
	if ctx == nil {
		ctx = context.Background()
	}
	if !h.log.Enabled(ctx, level) {
		return nil
	}
	attrs := make([]slog.Attr, 0, len(e.Data)+1)
	attrs = append(attrs, slog.String("component", "distribution"))
	for k, v := range e.Data {
		attrs = append(attrs, slog.Any(k, v))
	}
	h.log.LogAttrs(ctx, level, e.Message, attrs...)
	return nil
}
