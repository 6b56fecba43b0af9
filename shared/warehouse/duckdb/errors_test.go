package duckdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/duckdb/internal/bqsql"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		err      error
		code     warehouse.ErrorCode
		conflict bool
	}{
		{&duckdb.Error{Type: duckdb.ErrorTypeCatalog, Msg: `Catalog Error: Table with name "x" does not exist!`}, warehouse.NotFound, false},
		{&duckdb.Error{Type: duckdb.ErrorTypeBinder, Msg: `Binder Error: Catalog "p" does not exist!`}, warehouse.NotFound, false},
		{&duckdb.Error{Type: duckdb.ErrorTypeBinder, Msg: `Binder Error: Referenced column "x" not found in FROM clause!`}, warehouse.InvalidArgument, false},
		{&duckdb.Error{Type: duckdb.ErrorTypeCatalog, Msg: `Catalog Error: Table with name "t" already exists!`}, warehouse.AlreadyExists, false},
		{&duckdb.Error{Type: duckdb.ErrorTypeCatalog, Msg: "Catalog Error: Scalar Function with name farm_fingerprint does not exist!\nDid you mean"}, warehouse.InvalidArgument, false},
		{&duckdb.Error{Type: duckdb.ErrorTypeParser, Msg: `Parser Error: syntax error at or near "SELEC"`}, warehouse.InvalidArgument, false},
		{&duckdb.Error{Type: duckdb.ErrorTypeConversion, Msg: `Conversion Error: Could not convert string 'x' to INT64`}, warehouse.InvalidArgument, false},
		{&duckdb.Error{Type: duckdb.ErrorTypeConstraint, Msg: `Constraint Error: NOT NULL constraint failed: t.x`}, warehouse.InvalidArgument, false},
		{&duckdb.Error{Type: duckdb.ErrorTypeTransaction, Msg: `TransactionContext Error: Conflict on tuple deletion!`}, warehouse.Transient, true},
		{&duckdb.Error{Type: duckdb.ErrorTypeTransaction, Msg: `TransactionContext Error: Catalog write-write conflict on create with "t"`}, warehouse.Transient, true},
		{&duckdb.Error{Type: duckdb.ErrorTypeIO, Msg: `IO Error: Could not set lock on file "x": Conflicting lock is held`}, warehouse.FailedPrecondition, false},
		{errors.Join(errors.New("wrapped"), &duckdb.Error{Type: duckdb.ErrorTypeCatalog, Msg: `Catalog Error: Schema with name "d" already exists!`}), warehouse.AlreadyExists, false},
		{&bqsql.UnsupportedError{Construct: "statement ALTER TABLE"}, warehouse.InvalidArgument, false},
		{warehouse.Errorf(warehouse.NotFound, "inner", "gone"), warehouse.NotFound, false},
		{errors.New("something else"), warehouse.Unknown, false},
	}
	for _, tt := range tests {
		got := classify("op", tt.err)
		if warehouse.Code(got) != tt.code {
			t.Errorf("classify(%v) code %s, want %s", tt.err, warehouse.Code(got), tt.code)
		}
		if !errors.Is(got, tt.err) && !strings.Contains(got.Error(), tt.err.Error()) {
			t.Errorf("classify(%v) = %v lost the cause", tt.err, got)
		}
		if isConflict(got) != tt.conflict {
			t.Errorf("isConflict(%v) = %v, want %v", got, !tt.conflict, tt.conflict)
		}
	}
	if err := classify("op", fmt.Errorf("x: %w", context.DeadlineExceeded)); warehouse.Code(err) != warehouse.Transient || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: %v", err)
	}
	if err := classify("op", context.Canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

// TestSamePartitionWriters races writers on one partition: DuckDB reports
// conflicts, the warehouse retries them, and the partition ends up holding
// exactly one writer's rows.
func TestSamePartitionWriters(t *testing.T) {
	ctx := context.Background()
	w, err := Open(t.TempDir(), &Options{MaxAttempts: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ref := warehouse.TableRef{Project: "p", Dataset: "d", Table: "t"}
	if err := w.EnsureDataset(ctx, "p", "d", 0); err != nil {
		t.Fatal(err)
	}
	md := warehouse.TableMetadata{Ref: ref, Schema: warehouse.Schema{{Name: "day", Type: "DATE"}, {Name: "writer", Type: "INT64"}},
		PartitionType: warehouse.Day, PartitionField: "day"}
	if err := w.CreateTable(ctx, md); err != nil {
		t.Fatal(err)
	}
	const writers = 8
	errs := make(chan error, writers)
	for i := 0; i < writers; i++ {
		go func(i int) {
			_, err := w.Query(ctx, warehouse.QueryJob{
				SQL:         fmt.Sprintf("SELECT DATE '2024-01-01' AS day, %d AS writer FROM UNNEST(GENERATE_ARRAY(1, 100))", i),
				Destination: &ref, Partition: "20240101",
			})
			errs <- err
		}(i)
	}
	for i := 0; i < writers; i++ {
		if err := <-errs; err != nil {
			t.Errorf("writer: %v", err)
		}
	}
	rows, err := w.Read(ctx, warehouse.QueryJob{SQL: "SELECT COUNT(*), COUNT(DISTINCT writer) FROM p.d.t"})
	if err != nil {
		t.Fatal(err)
	}
	if rows.Rows[0][0] != int64(100) || rows.Rows[0][1] != int64(1) {
		t.Errorf("partition holds %v rows from %v writers, want 100 from 1", rows.Rows[0][0], rows.Rows[0][1])
	}
}
