package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStateDirMustExist: the commands that read what a run left refuse a
// state directory that does not exist, naming it, and create nothing; the
// commands that make state create it (review: hostile input, item 11).
func TestStateDirMustExist(t *testing.T) {
	sqlDir := filepath.Join(t.TempDir(), "sql")
	if err := os.MkdirAll(sqlDir, 0o755); err != nil {
		t.Fatal(err)
	}
	table := "moz-fx-data-shared-prod.test_derived.t_v1"
	for _, args := range [][]string{
		{"status"},
		{"retry", table},
		{"rollback", table},
		{"complete", table, "--sql-dir", sqlDir},
	} {
		missing := filepath.Join(t.TempDir(), "does", "not", "exist")
		code, out, errOut := runMain(t, append(args, "--state-dir", missing)...)
		if code != 1 || !strings.Contains(errOut, "state directory "+missing+" does not exist") {
			t.Errorf("%s: exit %d\nstdout: %s\nstderr: %s\nwant exit 1 naming the missing directory", args[0], code, out, errOut)
		}
		if _, err := os.Stat(missing); err == nil {
			t.Errorf("%s created %s", args[0], missing)
		}
	}
	for _, args := range [][]string{
		{"run", "--sql-dir", sqlDir},
		{"initiate", table, "--sql-dir", sqlDir},
		{"sql", "SELECT 1"},
	} {
		created := filepath.Join(t.TempDir(), "new", "state")
		code, out, errOut := runMain(t, append(args, "--state-dir", created)...)
		if _, err := os.Stat(created); err != nil {
			t.Errorf("%s: did not create %s (exit %d)\nstdout: %s\nstderr: %s", args[0], created, code, out, errOut)
		}
	}
}
