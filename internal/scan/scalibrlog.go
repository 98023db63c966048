package scan

import (
	"context"
	"fmt"
	"log/slog"
)

// ScalibrLogger adapts slog for osv-scalibr's global logger. osv-scalibr
// reports per-file trouble (no os-release, a malformed stanza) as errors;
// berth collects what matters as scan warnings, so all of it is Debug here.
// The CLI installs it with osv-scalibr's log.SetLogger.
func ScalibrLogger(l *slog.Logger) interface {
	Errorf(format string, args ...any)
	Error(args ...any)
	Warnf(format string, args ...any)
	Warn(args ...any)
	Infof(format string, args ...any)
	Info(args ...any)
	Debugf(format string, args ...any)
	Debug(args ...any)
} {
	return scalibrLogger{l}
}

type scalibrLogger struct{ l *slog.Logger }

func (s scalibrLogger) log(format string, args ...any) {
	if !s.l.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	s.l.Debug(fmt.Sprintf(format, args...), "component", "osv-scalibr")
}

func (s scalibrLogger) Errorf(format string, args ...any) { s.log(format, args...) }
func (s scalibrLogger) Warnf(format string, args ...any)  { s.log(format, args...) }
func (s scalibrLogger) Infof(format string, args ...any)  { s.log(format, args...) }
func (s scalibrLogger) Debugf(format string, args ...any) { s.log(format, args...) }
func (s scalibrLogger) Error(args ...any)                 { s.log("%s", fmt.Sprint(args...)) }
func (s scalibrLogger) Warn(args ...any)                  { s.log("%s", fmt.Sprint(args...)) }
func (s scalibrLogger) Info(args ...any)                  { s.log("%s", fmt.Sprint(args...)) }
func (s scalibrLogger) Debug(args ...any)                 { s.log("%s", fmt.Sprint(args...)) }
