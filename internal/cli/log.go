package cli

import (
	"os"
	"path/filepath"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newLogger logs for people on a terminal and as JSON lines otherwise,
// such as under systemd or when redirected to a file. A daemon with no
// stderr at all (on Windows, started at login as a GUI program) logs to
// cardbridge.log in logDir.
func newLogger(debug bool) *zap.Logger {
	level := zapcore.InfoLevel
	if debug {
		level = zapcore.DebugLevel
	}
	var enc zapcore.Encoder
	var sink zapcore.WriteSyncer = zapcore.Lock(os.Stderr)
	fi, err := os.Stderr.Stat()
	switch {
	case err == nil && fi.Mode()&os.ModeCharDevice != 0:
		cfg := zap.NewDevelopmentEncoderConfig()
		cfg.EncodeLevel = zapcore.CapitalLevelEncoder
		if terminalColours {
			cfg.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		enc = zapcore.NewConsoleEncoder(cfg)
	default:
		if !stderrUsable() {
			if f, err := openLogFile(); err == nil {
				sink = zapcore.Lock(f)
			}
		}
		cfg := zap.NewProductionEncoderConfig()
		cfg.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(cfg)
	}
	return zap.New(zapcore.NewCore(enc, sink, level))
}

// openLogFile opens cardbridge.log in logDir for appending, readable by
// this user only.
func openLogFile() (*os.File, error) {
	if err := os.MkdirAll(logDir(), 0o700); err != nil {
		return nil, err
	}
	return os.OpenFile(filepath.Join(logDir(), "cardbridge.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
}
