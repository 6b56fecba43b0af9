package backfill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// pyCompile compiles the script on stdin without running it.
const pyCompile = `import sys
compile(sys.stdin.buffer.read(), sys.argv[1], "exec")`

// PythonSyntax returns a checker for Options.CheckPython that compiles a
// script with the python3 on PATH without executing it (rule C2), or nil
// when there is no python3.
func PythonSyntax() func(name string, src []byte) error {
	py, err := exec.LookPath("python3")
	if err != nil {
		return nil
	}
	return func(name string, src []byte) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, py, "-c", pyCompile, name)
		cmd.Stdin = bytes.NewReader(src)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if err == nil {
			return nil
		}
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return fmt.Errorf("run python3 to check %s: %w", name, err)
		}
		return errors.New(lastPythonError(stderr.String()))
	}
}

// lastPythonError keeps the useful end of a traceback: the offending line
// and the "SyntaxError: …" line.
func lastPythonError(tb string) string {
	lines := strings.Split(strings.TrimRight(tb, "\n"), "\n")
	var keep []string
	for i := len(lines) - 1; i >= 0 && len(keep) < 4; i-- {
		l := strings.TrimRight(lines[i], " ")
		if strings.HasPrefix(l, "Traceback") || strings.HasPrefix(strings.TrimSpace(l), "File \"<string>\"") {
			break
		}
		keep = append([]string{strings.TrimSpace(l)}, keep...)
	}
	return strings.Join(keep, " | ")
}
