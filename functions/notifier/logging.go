package notifier

import (
	"io"
	"log/slog"
	"strings"
)

// newLogger returns a JSON logger whose lines Cloud Logging understands:
// the level under "severity" (DEBUG, INFO, WARNING, ERROR) and the text
// under "message". level is BQBACKFILL_LOG_LEVEL; unknown values mean INFO.
func newLogger(w io.Writer, level string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: parseLevel(level),
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.LevelKey:
				a.Key = "severity"
				if lv, ok := a.Value.Any().(slog.Level); ok {
					a.Value = slog.StringValue(severity(lv))
				}
			case slog.MessageKey:
				a.Key = "message"
			}
			return a
		},
	}))
}

func parseLevel(s string) slog.Level {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "DEBUG":
		return slog.LevelDebug
	case "WARN", "WARNING":
		return slog.LevelWarn
	case "ERROR":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// severity maps a slog level to a Cloud Logging severity name.
func severity(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	}
	return "DEBUG"
}
