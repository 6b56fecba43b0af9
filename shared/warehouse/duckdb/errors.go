package duckdb

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/duckdb/internal/bqsql"
)

// missingFunctionRE extracts the name from DuckDB's "Scalar Function with
// name x does not exist!" (and the Table/Aggregate/Macro variants).
var missingFunctionRE = regexp.MustCompile(`(?i)function with name "?([A-Za-z0-9_.]+)"? does not exist`)

// missingObjectRE matches DuckDB's messages for a missing catalog (project),
// schema (dataset) or table, which come as Catalog or Binder errors.
var missingObjectRE = regexp.MustCompile(`(?i)(catalog|schema|table)( with name)? "?[^"\s]+"? does not exist`)

// classify wraps err from DuckDB (or from the translator) with a warehouse
// code and the operation. Errors that already carry a code keep it;
// context errors stay reachable through errors.Is.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var we *warehouse.Error
	if errors.As(err, &we) {
		if op == "" || strings.HasPrefix(we.Op, op) {
			return err
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	var ue *bqsql.UnsupportedError
	var se *bqsql.SyntaxError
	if errors.As(err, &ue) || errors.As(err, &se) {
		return &warehouse.Error{Code: warehouse.InvalidArgument, Op: op, Err: err}
	}
	var de *duckdb.Error
	if !errors.As(err, &de) {
		return &warehouse.Error{Code: warehouse.Unknown, Op: op, Err: err}
	}
	msg := de.Msg
	code := warehouse.Unknown
	switch de.Type {
	case duckdb.ErrorTypeCatalog:
		switch {
		case missingFunctionRE.MatchString(msg):
			name := missingFunctionRE.FindStringSubmatch(msg)[1]
			return &warehouse.Error{Code: warehouse.InvalidArgument, Op: op, Err: &bqsql.UnsupportedError{
				Construct: "function " + strings.ToUpper(name), Hint: "DuckDB said: " + firstLine(msg), Cause: err}}
		case strings.Contains(msg, "does not exist"), strings.Contains(msg, "not found"):
			code = warehouse.NotFound
		case strings.Contains(msg, "already exists"):
			code = warehouse.AlreadyExists
		default:
			code = warehouse.InvalidArgument
		}
	case duckdb.ErrorTypeBinder:
		code = warehouse.InvalidArgument
		if missingObjectRE.MatchString(msg) {
			code = warehouse.NotFound
		}
	case duckdb.ErrorTypeParser, duckdb.ErrorTypeSyntax, duckdb.ErrorTypeConversion,
		duckdb.ErrorTypeInvalidInput, duckdb.ErrorTypeOutOfRange, duckdb.ErrorTypeMismatchType,
		duckdb.ErrorTypeConstraint, duckdb.ErrorTypeDivideByZero, duckdb.ErrorTypeNotImplemented,
		duckdb.ErrorTypeParameterNotResolved, duckdb.ErrorTypeParameterNotAllowed, duckdb.ErrorTypeInvalidType,
		duckdb.ErrorTypeExpression, duckdb.ErrorTypeDecimal, duckdb.ErrorTypeInvalid:
		code = warehouse.InvalidArgument
	case duckdb.ErrorTypeTransaction:
		if isConflictMsg(msg) {
			code = warehouse.Transient
		} else {
			code = warehouse.FailedPrecondition
		}
	case duckdb.ErrorTypeOutOfMemory:
		code = warehouse.Transient
	case duckdb.ErrorTypePermission:
		code = warehouse.PermissionDenied
	case duckdb.ErrorTypeIO:
		if strings.Contains(msg, "lock") {
			code = warehouse.FailedPrecondition
		}
	}
	return &warehouse.Error{Code: code, Op: op, Err: err}
}

func isConflictMsg(msg string) bool {
	return strings.Contains(strings.ToLower(msg), "conflict")
}

// isConflict reports whether err is a DuckDB transaction conflict, which a
// retry of the whole transaction may resolve.
func isConflict(err error) bool {
	var de *duckdb.Error
	if errors.As(err, &de) {
		return de.Type == duckdb.ErrorTypeTransaction && isConflictMsg(de.Msg)
	}
	var we *warehouse.Error
	return errors.As(err, &we) && we.Code == warehouse.Transient && isConflictMsg(we.Error())
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}
