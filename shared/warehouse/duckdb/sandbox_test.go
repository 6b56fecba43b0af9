package duckdb

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// TestSandboxThroughTheDialect: SQL given to the warehouse cannot name a
// file, whatever DuckDB function or replacement scan it tries; the error
// is the subset's and shows nothing of the file.
func TestSandboxThroughTheDialect(t *testing.T) {
	w, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	secret := filepath.Join(t.TempDir(), "secret.csv")
	if err := os.WriteFile(secret, []byte("token\nhunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	q := "'" + secret + "'"
	for _, sql := range []string{
		"SELECT * FROM read_text(" + q + ")",
		"SELECT * FROM read_text('/etc/passwd')",
		"SELECT content FROM read_blob(" + q + ")",
		"SELECT * FROM read_csv(" + q + ")",
		"SELECT 1 AS x FROM UNNEST([1]) AS u, read_text(" + q + ")",
		"SELECT * FROM " + q,
		"SELECT * FROM glob('/etc/*')",
		"SELECT * FROM duckdb_settings()",
		"SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')",
	} {
		_, err := w.Read(context.Background(), warehouse.QueryJob{SQL: sql})
		if err == nil {
			t.Errorf("%s: ran; want it refused", sql)
			continue
		}
		if warehouse.Code(err) != warehouse.InvalidArgument || !strings.Contains(err.Error(), "supported subset") {
			t.Errorf("%s: %v (%s); want the subset's InvalidArgument", sql, err, warehouse.Code(err))
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "root:") {
			t.Errorf("%s: the error shows the file: %v", sql, err)
		}
	}
}

// TestSandboxEveryConnection: below the dialect, every connection of the
// pool has external access off and cannot turn it on again, while
// projects created after the lock still attach.
func TestSandboxEveryConnection(t *testing.T) {
	w, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	outside := filepath.Join(t.TempDir(), "out.csv")
	// Several connections at once, so the pool opens new ones.
	var conns []interface{ Close() error }
	for i := range 3 {
		c, err := w.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var tz string
		if err := c.QueryRowContext(ctx, "SELECT current_setting('TimeZone')").Scan(&tz); err != nil || tz != "UTC" {
			t.Errorf("connection %d: TimeZone %q, %v; want UTC", i, tz, err)
		}
		for _, stmt := range []string{
			"SELECT * FROM read_text('/etc/passwd')",
			"COPY (SELECT 1) TO '" + outside + "'",
			"ATTACH '" + filepath.Join(filepath.Dir(outside), "x.duckdb") + "' AS x",
			"SET enable_external_access = true",
			"SET allowed_directories = ['/']",
			"SET lock_configuration = false",
			"RESET enable_external_access",
			"INSTALL httpfs",
			"LOAD httpfs",
		} {
			if _, err := c.ExecContext(ctx, stmt); err == nil {
				t.Errorf("connection %d: %s succeeded; want it refused", i, stmt)
			}
		}
	}
	for _, c := range conns {
		c.Close()
	}
	if _, err := os.Stat(outside); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("COPY wrote %s (stat: %v)", outside, err)
	}
	// A project first used after the lock is attached inside the sandbox.
	if _, err := w.Read(ctx, warehouse.QueryJob{SQL: "CREATE SCHEMA `late-project.d`; CREATE TABLE `late-project.d.t` (x INT64); INSERT INTO `late-project.d.t` VALUES (1)"}); err != nil {
		t.Fatalf("new project after the lock: %v", err)
	}
}
