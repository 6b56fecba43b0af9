package local

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
)

// TestQuerySQLCannotReadFiles: a query.sql that reads a file next to the
// tree (review: hostile input, item 2) fails with the subset's message;
// nothing of the file reaches staging, production or the ledger.
func TestQuerySQLCannotReadFiles(t *testing.T) {
	tc := e2eCases[0]
	sqlDir := writeTree(t, tc.table, tc.entry)
	s := openStack(t, Options{})
	loadWarehouse(t, s)
	id := pipeline.BackfillID(tc.table, testToday)
	before := rows(t, s, tc.table)
	secret := filepath.Join(tableDir(sqlDir, tc.table), "..", "secret.txt")
	if err := os.WriteFile(secret, []byte("hunter2"), 0o600); err != nil {
		t.Fatal(err)
	}
	query := "SELECT submission_date, 'XX' AS country, (SELECT LENGTH(content) FROM read_text('" + secret + "')) AS dau\n" +
		"FROM `moz-fx-data-shared-prod.test_live.events_v1` WHERE submission_date = @submission_date GROUP BY submission_date"
	if err := os.WriteFile(filepath.Join(tableDir(sqlDir, tc.table), "query.sql"), []byte(query), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(context.Background(), sqlDir)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	b := record(t, s, id)
	if b.State != ledger.StateFailed && b.State != ledger.StateRejected {
		t.Fatalf("state %s, want failed or rejected (actions %q)", b.State, did(res.Actions))
	}
	parts, err := s.Ledger.ListPartitions(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	msgs := b.LastError
	for _, p := range parts {
		msgs += "\n" + p.Error
	}
	if !strings.Contains(msgs, "table function read_text is not supported") {
		t.Errorf("errors do not name the table function:\n%s", msgs)
	}
	if strings.Contains(msgs, "hunter2") {
		t.Errorf("errors show the file:\n%s", msgs)
	}
	if staging := stagingOf(tc.table, testToday); exists(t, s, staging) {
		for _, r := range rows(t, s, staging) {
			if strings.Contains(r, "XX") {
				t.Errorf("staging holds a row of the query: %q", r)
			}
		}
	}
	if got := rows(t, s, tc.table); strings.Join(got, "\n") != strings.Join(before, "\n") {
		t.Errorf("production changed:\n got %q\nwant %q", got, before)
	}
}
