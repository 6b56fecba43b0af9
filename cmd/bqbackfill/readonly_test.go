//go:build unix

package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// readOnlyStateEnv hands the state directory to this test re-run as an
// unprivileged user (see TestReadOnlyStateDir).
const readOnlyStateEnv = "BQBACKFILL_TEST_READONLY_STATE"

// TestReadOnlyStateDir: on a state directory the user cannot write,
// status (text and JSON) and sql work and print what is there, and create
// nothing; a command that changes the state fails naming the directory
// (review: hostile input, item 15). Permission bits do not bind root, so
// as root the checks run in this test binary re-run as nobody.
func TestReadOnlyStateDir(t *testing.T) {
	if state := os.Getenv(readOnlyStateEnv); state != "" {
		readOnlyChecks(t, state)
		return
	}
	root := t.TempDir()
	demo := filepath.Join(root, "demo")
	if code, out, errOut := runMain(t, "demo", "--state-dir", demo, "--today", "2026-11-25"); code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, errOut)
	}
	state := filepath.Join(demo, "state")
	err := filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Chmod(p, 0o555)
		}
		return os.Chmod(p, 0o444)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})
	if os.Geteuid() != 0 {
		readOnlyChecks(t, state)
		return
	}
	// Root writes anywhere: re-run this test as nobody, who can read the
	// state (and run a copy of the test binary) but not write it.
	for p := root; p != filepath.Dir(p) && strings.HasPrefix(p, os.TempDir()); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(demo, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "bqbackfill.test")
	if err := copyExecutable(bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestReadOnlyStateDir$", "-test.v", "-test.count=1")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), readOnlyStateEnv+"="+state, "HOME="+root, "TMPDIR="+os.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(err.Error(), "operation not permitted") {
		t.Skipf("cannot run as an unprivileged user here, and root ignores permissions: %v", err)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: TestReadOnlyStateDir") {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
}

// readOnlyChecks runs the commands on the read-only state directory.
func readOnlyChecks(t *testing.T, state string) {
	t.Helper()
	if f, err := os.Create(filepath.Join(state, "probe")); err == nil {
		f.Close()
		t.Skipf("%s is writable here: nothing to test", state)
	}
	before := listTree(t, state)
	table := "moz-fx-data-shared-prod.telemetry_derived.daily_active_users_v1"
	code, out, errOut := runMain(t, "status", "--state-dir", state)
	if code != 0 || !strings.Contains(out, table+"/2026-11-25") || !strings.Contains(out, "state: completed") {
		t.Errorf("status: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, errOut = runMain(t, "status", "--state-dir", state, "--json")
	if code != 0 || !strings.Contains(out, `"state": "completed"`) {
		t.Errorf("status --json: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, errOut = runMain(t, "sql", "--state-dir", state, "--format", "csv",
		"SELECT COUNT(*) AS n FROM `"+table+"`")
	if code != 0 || !strings.HasPrefix(out, "n\n") || strings.TrimSpace(out) == "n\n0" {
		t.Errorf("sql: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, errOut = runMain(t, "sql", "--state-dir", state, "CREATE TABLE `"+table+"_copy` AS SELECT * FROM `"+table+"`")
	if code != 1 || !strings.Contains(errOut, "state directory "+state+" is not writable") {
		t.Errorf("sql writing: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1 naming the read-only directory", code, out, errOut)
	}
	code, out, errOut = runMain(t, "rollback", table, "--state-dir", state)
	if code != 1 || !strings.Contains(errOut, "state directory "+state+" is not writable") {
		t.Errorf("rollback: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1 naming the read-only directory", code, out, errOut)
	}
	if after := listTree(t, state); after != before {
		t.Errorf("the commands changed the read-only state directory:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// listTree lists the files under dir with their sizes.
func listTree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b.WriteString(rel + " " + info.Mode().String())
		if !d.IsDir() {
			fmt.Fprintf(&b, " %d", info.Size())
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// copyExecutable copies the running test binary to dst, executable by all.
func copyExecutable(dst string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	src, err := os.Open(exe)
	if err != nil {
		return err
	}
	defer src.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
