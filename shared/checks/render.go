// Package checks renders and runs a table's data checks (checks.sql) the way
// bigquery-etl's `bqetl check` does (spec/data-checks.md), against the
// backfill's staging table instead of production.
//
// A checks file is a Jinja template. It is rendered by a real Jinja engine
// (gonja), with the data-check macros (not_null, is_unique, min_row_count,
// in_range, accepted_values, matches_pattern, value_length,
// row_count_within_past_partitions_avg, revenue_period_over_period_change)
// available as functions, then split into statements; a statement runs when
// it carries a #fail or #warn marker.
//
// Table naming. As in bqetl, project_id, dataset_id and table_name name the
// table the file belongs to. After rendering, every reference to that table
// — built from the variables or written literally
// (`moz-fx-data-shared-prod.d.t`, five files in the corpus) — is rewritten to
// the table checked (Options.Target: staging during a backfill) with the
// rewrite the depends_on_past queries use (querytext.RewriteSelfReferences),
// and the macros read the target directly. Decision: this has the effect of
// binding the variables to staging for the table itself, but keeps partly
// templated names of OTHER tables (`{{ project_id }}.{{ dataset_id
// }}.clients_daily_v6`, two files in the corpus) pointing at production,
// which is what their authors meant; binding the variables to staging would
// send those into the staging dataset, where they do not exist.
package checks

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"

	"github.com/bqbackfill/bqbackfill/shared/querytext"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Options say which table a checks file belongs to, which table it checks
// and with which query parameters.
type Options struct {
	// Table is the table the checks file belongs to (its directory in the tree).
	Table warehouse.TableRef
	// Target is the table read: the staging table during a backfill, or
	// Table itself for production. Zero means Table.
	Target warehouse.TableRef
	// Params are the partition's query parameters (submission_date:DATE:…).
	// They are bound as @name in the SQL and, as in bqetl, are also Jinja
	// variables holding the value text.
	Params []warehouse.Param
}

func (o Options) target() warehouse.TableRef {
	if o.Target == (warehouse.TableRef{}) {
		return o.Table
	}
	return o.Target
}

// RenderError is a checks file that cannot be rendered: a Jinja syntax
// error, a call of an unknown macro, bad macro arguments.
type RenderError struct {
	Err error
}

func (e *RenderError) Error() string { return "render checks.sql: " + e.Err.Error() }
func (e *RenderError) Unwrap() error { return e.Err }

// Render renders a checks file to SQL: Jinja with the macros, variables bound
// to the target table, and literal references to the table itself rewritten
// to the target. The result still holds every statement, marked or not.
func Render(src string, o Options) (string, error) {
	if o.Table.Project == "" || o.Table.Dataset == "" || o.Table.Table == "" {
		return "", fmt.Errorf("render checks.sql: table %q is not fully qualified", o.Table.String())
	}
	target := o.target()
	ctx := exec.NewContext(map[string]any{
		// bqetl's variables: is_init() is false outside an init run;
		// templates_dir is empty for checks.
		"is_init":       func() bool { return false },
		"templates_dir": "",
	})
	for _, p := range o.Params {
		ctx.Set(p.Name, p.Value)
	}
	ctx.Set("project_id", o.Table.Project)
	ctx.Set("dataset_id", o.Table.Dataset)
	ctx.Set("table_name", o.Table.Table)
	for name, m := range macros {
		ctx.Set(name, m.bind(target))
	}
	out, err := execute(src, ctx)
	if err != nil {
		return "", &RenderError{Err: err}
	}
	if target != o.Table {
		out, _, err = querytext.RewriteSelfReferences(out, o.Table, target, o.Table.Project, "")
		if err != nil {
			return "", &RenderError{Err: err}
		}
	}
	return out, nil
}

// invalidCallRE finds the line and the macro's own complaint in gonja's
// error for a bad macro call.
var invalidCallRE = regexp.MustCompile(`(?s)at line (\d+):.*?(invalid call to function .*)`)

// environment is plain Jinja: no autoescape, undefined renders empty, no
// block trimming, the final newline dropped (gonja's defaults match).
var environment = &exec.Environment{
	Context:           exec.EmptyContext().Update(builtins.GlobalFunctions).Update(builtins.GlobalVariables),
	Filters:           builtins.Filters,
	Tests:             builtins.Tests,
	ControlStructures: builtins.ControlStructures,
	Methods:           builtins.Methods,
}

// execute renders src as one template. The loader is in memory, so
// {% include %} and {% import %} fail, as they do upstream (the template is
// rendered from a temporary directory there).
func execute(src string, ctx *exec.Context) (out string, err error) {
	defer func() {
		// A template engine bug must not take the worker down.
		if r := recover(); r != nil {
			err = fmt.Errorf("template engine: %v", r)
		}
	}()
	const name = "/checks.sql"
	loader, err := loaders.NewMemoryLoader(map[string]string{name: src})
	if err != nil {
		return "", err
	}
	tpl, err := exec.NewTemplate(name, config.New(), loader, environment)
	if err != nil {
		return "", cleanErr(err)
	}
	var b bytes.Buffer
	if err := tpl.Execute(&b, ctx); err != nil {
		return "", cleanErr(err)
	}
	return b.String(), nil
}

// cleanErr keeps gonja's message but drops the stack of wrappers that repeat
// it.
func cleanErr(err error) error {
	msg := err.Error()
	if m := invalidCallRE.FindStringSubmatch(msg); m != nil {
		msg = "line " + m[1] + ": " + m[2]
	}
	if len(msg) > 600 {
		msg = msg[:600] + "…"
	}
	return errors.New(msg)
}

// Prepare renders a checks file and returns the checks that run, in file
// order.
func Prepare(src string, o Options) ([]Check, error) {
	sql, err := Render(src, o)
	if err != nil {
		return nil, err
	}
	return Split(sql), nil
}
