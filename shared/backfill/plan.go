package backfill

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/config"
	"github.com/bqbackfill/bqbackfill/shared/metadata"
	"github.com/bqbackfill/bqbackfill/shared/shredder"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// StagingTable names the staging table of an entry (reference §4.1):
// <P>.<staging dataset>.<prefix><dataset>__<table>_<YYYY_MM_DD>, where P is
// the staging project (the target's project under a target), the prefix is
// "<project>__" for tables outside the staging project, and every "-" of
// the table id becomes "_". The name always derives from the source table.
func StagingTable(src warehouse.TableRef, entryDate civil.Date, s config.Settings, target *config.Target) warehouse.TableRef {
	return stagingName(src, entryDate, s, target, "")
}

// BackupTable names the backup table: the staging name with "_backup"
// before the date (reference §4.2).
func BackupTable(src warehouse.TableRef, entryDate civil.Date, s config.Settings, target *config.Target) warehouse.TableRef {
	return stagingName(src, entryDate, s, target, "backup_")
}

func stagingName(src warehouse.TableRef, entryDate civil.Date, s config.Settings, target *config.Target, infix string) warehouse.TableRef {
	project := s.StagingProject
	if target != nil {
		project = target.Project
	}
	prefix := ""
	if src.Project != s.StagingProject {
		prefix = src.Project + "__"
	}
	id := prefix + src.Dataset + "__" + src.Table + "_" + infix + entryDate.String()
	return warehouse.TableRef{Project: project, Dataset: s.StagingDataset, Table: strings.ReplaceAll(id, "-", "_")}
}

// QueryKind says how a partition is computed.
type QueryKind string

const (
	// QuerySQL runs a SQL query into the staging partition.
	QuerySQL QueryKind = "sql"
	// QueryPython runs a query.py (or .py custom query) entrypoint per date.
	QueryPython QueryKind = "python"
)

// Query is the query an entry runs.
type Query struct {
	Kind QueryKind `json:"kind"`
	// Path is the query file, relative to the tree root.
	Path string `json:"path"`
	// Custom reports that Path comes from custom_query_path.
	Custom bool `json:"custom,omitempty"`
	// The script fields are set for QueryPython.
	Entrypoint string   `json:"entrypoint,omitempty"`
	DateArg    string   `json:"date_arg,omitempty"`
	Args       []string `json:"args,omitempty"`
	DryRunArg  string   `json:"dry_run_arg,omitempty"`
}

// Partition is one unit of work.
type Partition struct {
	// ID is the partition decorator written (YYYYMMDD, YYYYMM), or "" when
	// the job writes the whole table.
	ID string `json:"id"`
	// Date is the enumerated date (the first of the month for monthly
	// tables; the end date for a whole-table job).
	Date civil.Date `json:"date"`
	// ParamName is the date parameter the query binds ("" for none); for a
	// script it is the date argument.
	ParamName string `json:"param_name,omitempty"`
	// ParamValue is Date plus the partition offset (scripts: Date).
	ParamValue civil.Date `json:"param_value,omitzero"`
	// Params are the query parameters: scheduling.parameters with {{ds}}
	// replaced by Date, then the date parameter unless already listed.
	Params []warehouse.Param `json:"params,omitempty"`
}

// Seed is the partition copied into staging before the first sequential
// partition of a depends_on_past table.
type Seed struct {
	Date   civil.Date         `json:"date"`
	ID     string             `json:"id"`
	Source warehouse.TableRef `json:"source"`
}

// Plan is what running an entry means: the partitions, their order and the
// tables involved. It depends only on the files, the settings and the
// target.
type Plan struct {
	Table     warehouse.TableRef `json:"table"`
	EntryDate civil.Date         `json:"entry_date"`
	EntryHash string             `json:"entry_hash"`
	Status    Status             `json:"status"`
	Watchers  []string           `json:"watchers"`
	// Target is the --target name, "" for production.
	Target string `json:"target,omitempty"`
	// Effective is the table seeded from, backed up and swapped: the table
	// itself, or its target-deployed copy.
	Effective warehouse.TableRef `json:"effective_table"`
	// SwapDestination receives the staged data: Effective, or the public
	// project's copy of a public_bigquery table (not under a target).
	SwapDestination warehouse.TableRef `json:"swap_destination"`
	Staging         warehouse.TableRef `json:"staging_table"`
	Backup          warehouse.TableRef `json:"backup_table"`
	BillingProject  string             `json:"billing_project"`
	// DefaultProject and DefaultDataset resolve unqualified names in the
	// query: the table's own project and dataset.
	DefaultProject string `json:"default_project"`
	DefaultDataset string `json:"default_dataset"`

	PartitionType  warehouse.PartitionType `json:"partition_type"`
	PartitionField string                  `json:"partition_field,omitempty"`
	// Offset is the partition offset in days after ignore_date_partition_offset.
	Offset     int         `json:"offset,omitempty"`
	Partitions []Partition `json:"partitions"`
	// Sequential runs the partitions one at a time in order
	// (depends_on_past), the query reading staging instead of production.
	Sequential bool  `json:"sequential"`
	Seed       *Seed `json:"seed,omitempty"`
	// WholeTableSwap copies the whole staging table onto the destination
	// instead of partition by partition.
	WholeTableSwap bool `json:"whole_table_swap"`
	// ReinitializeBatchSize is set for reinitialize_table: the number of
	// sample_id values per job.
	ReinitializeBatchSize int   `json:"reinitialize_batch_size,omitempty"`
	Query                 Query `json:"query"`
	ShredderMitigation    bool  `json:"shredder_mitigation,omitempty"`
	// Shredder is the planned shredder mitigation (PlanShredder), set when
	// ShredderMitigation is: the generated query and checks replace the
	// query's and run per partition.
	Shredder *shredder.Mitigation `json:"shredder,omitempty"`
	// Warnings are things worth telling the user that do not stop the run.
	Warnings []string `json:"warnings,omitempty"`
}

// NewPlan plans entry e of table t with settings s, under target (nil for
// production). It fails when the files make the entry impossible to run:
// no metadata.yaml, an unsupported partitioning (M2), a monthly table with
// an offset (R12), no query file, a script without entrypoint or date
// argument (R14), reinitialize on a script (R9), a script under a target
// (R5), an unparsable scheduling parameter, or a depends_on_past seed that
// cannot be computed (R11). Validation is separate (Validate).
func NewPlan(t *Table, e *Entry, s config.Settings, target *config.Target) (*Plan, error) {
	md := t.Metadata
	if md == nil {
		return nil, fmt.Errorf("plan %s entry %s: metadata.yaml is missing or unreadable: cannot tell the partitioning", t.Ref, e.Key())
	}
	if err := CheckPartitioning(t.Ref, md); err != nil {
		return nil, fmt.Errorf("plan %s entry %s: %s", t.Ref, e.Key(), err.Message)
	}
	if err := CheckMonthOffset(e, md); err != nil {
		return nil, fmt.Errorf("plan %s entry %s: %s", t.Ref, e.Key(), err.Message)
	}
	p := &Plan{
		Table:              t.Ref,
		EntryDate:          e.EntryDate,
		EntryHash:          e.Hash(),
		Status:             e.Status,
		Watchers:           append([]string(nil), e.Watchers...),
		Effective:          t.Ref,
		DefaultProject:     t.Ref.Project,
		DefaultDataset:     t.Ref.Dataset,
		ShredderMitigation: e.ShredderMitigation,
		Staging:            StagingTable(t.Ref, e.EntryDate, s, target),
		Backup:             BackupTable(t.Ref, e.EntryDate, s, target),
		BillingProject:     s.DefaultBillingProject,
	}
	if target != nil {
		p.Target = target.Name
		eff, err := target.Effective(t.Ref)
		if err != nil {
			return nil, fmt.Errorf("plan %s entry %s: %w", t.Ref, e.Key(), err)
		}
		p.Effective = eff
		p.BillingProject = target.Project
	}
	if e.BillingProject != "" {
		p.BillingProject = e.BillingProject
	}
	p.SwapDestination = p.Effective
	if md.Public() && target == nil {
		p.SwapDestination = warehouse.TableRef{Project: s.PublicProject, Dataset: t.Ref.Dataset, Table: t.Ref.Table}
	}

	q, err := planQuery(t, e, target)
	if err != nil {
		return nil, fmt.Errorf("plan %s entry %s: %w", t.Ref, e.Key(), err)
	}
	p.Query = q
	if err := CheckShredder(e, md); err != nil {
		return nil, fmt.Errorf("plan %s entry %s: %s", t.Ref, e.Key(), err.Message)
	}
	if usesShredder(e, md) {
		m, serr := PlanShredder(t, e, q)
		if serr != nil {
			return nil, fmt.Errorf("plan %s entry %s: %w", t.Ref, e.Key(), serr)
		}
		p.Shredder = m
	}

	ptype, _ := md.PartitionType()
	p.PartitionType = ptype
	if tp := md.BigQuery.TimePartitioning; tp != nil {
		p.PartitionField = tp.Field
	}
	offset := md.Scheduling.DateOffset
	if e.IgnoreDatePartitionOffset {
		offset = 0
	}
	p.Offset = offset
	param, hasParam := md.Scheduling.DateParameter.Effective()
	if e.OverrideDependsOnPastNullPartition {
		param, hasParam = metadata.DefaultDateParameter, true
	}
	params, err := parseParameters(md.Scheduling.Parameters)
	if err != nil {
		return nil, fmt.Errorf("plan %s entry %s: %w", t.Ref, e.Key(), err)
	}

	wholeTable := ptype == warehouse.Unpartitioned || (!hasParam && offset == 0)
	switch {
	case e.Reinitialize():
		size := s.SamplingBatchSize
		if e.ReinitializeSamplingBatchSize != nil {
			size = *e.ReinitializeSamplingBatchSize
		}
		p.ReinitializeBatchSize = size
		p.WholeTableSwap = true
		p.Partitions = []Partition{{Date: e.EndDate}}
		return p, nil
	case wholeTable:
		p.WholeTableSwap = true
		p.Partitions = []Partition{p.partition(e.EndDate, "", param, hasParam, offset, params)}
		if ptype == warehouse.Unpartitioned {
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s is not partitioned: one job for %s computes the whole table", t.Ref, e.EndDate))
		} else {
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s has a null date_partition_parameter: one job computes the whole table", t.Ref))
		}
		if md.Scheduling.DependsOnPast && !e.OverrideDependsOnPastNullPartition {
			p.Warnings = append(p.Warnings, "depends_on_past: the single job reads the staging table, which is not seeded for a whole-table job")
		}
		return p, nil
	}

	for _, d := range enumerate(e, ptype) {
		id := partitionID(ptype, d.AddDays(offset))
		if ptype == warehouse.Month {
			id = partitionID(ptype, d)
		}
		p.Partitions = append(p.Partitions, p.partition(d, id, param, hasParam, offset, params))
	}
	p.Sequential = md.Scheduling.DependsOnPast && !e.OverrideDependsOnPastNullPartition
	if p.Sequential && q.Kind == QuerySQL {
		prev := e.StartDate.AddDays(-1)
		if ptype == warehouse.Month {
			prev = addMonthsClipped(e.StartDate, -1)
		}
		id := partitionID(ptype, prev.AddDays(offset))
		if ptype == warehouse.Month {
			id = partitionID(ptype, prev)
		}
		if id == "" {
			return nil, fmt.Errorf("plan %s entry %s: unable to get initial partition id for depends_on_past table: %s", t.Ref, e.Key(), t.Ref)
		}
		p.Seed = &Seed{Date: prev, ID: id, Source: p.Effective}
		if len(e.ExcludedDates) > 0 {
			p.Warnings = append(p.Warnings, fmt.Sprintf("depends_on_past: the excluded dates %s keep their old data and later partitions are computed from it", joinDates(e.ExcludedDates)))
		}
	}
	if len(p.Partitions) == 0 {
		return nil, fmt.Errorf("plan %s entry %s: every date from %s to %s is excluded: nothing to compute", t.Ref, e.Key(), e.StartDate, e.EndDate)
	}
	return p, nil
}

// MarshalJSON writes the plan with table names as "project.dataset.table"
// strings.
func (p *Plan) MarshalJSON() ([]byte, error) {
	type seedJSON struct {
		Date   civil.Date `json:"date"`
		ID     string     `json:"id"`
		Source string     `json:"source"`
	}
	type planAlias Plan
	out := struct {
		*planAlias
		Table           string    `json:"table"`
		Effective       string    `json:"effective_table"`
		SwapDestination string    `json:"swap_destination"`
		Staging         string    `json:"staging_table"`
		Backup          string    `json:"backup_table"`
		Seed            *seedJSON `json:"seed,omitempty"`
	}{
		planAlias:       (*planAlias)(p),
		Table:           p.Table.String(),
		Effective:       p.Effective.String(),
		SwapDestination: p.SwapDestination.String(),
		Staging:         p.Staging.String(),
		Backup:          p.Backup.String(),
	}
	if p.Seed != nil {
		out.Seed = &seedJSON{Date: p.Seed.Date, ID: p.Seed.ID, Source: p.Seed.Source.String()}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode plan of %s: %w", p.Table, err)
	}
	return b, nil
}

// partition builds one partition of the plan.
func (p *Plan) partition(d civil.Date, id, param string, hasParam bool, offset int, params []warehouse.Param) Partition {
	part := Partition{ID: id, Date: d}
	if p.Query.Kind == QueryPython {
		part.ParamName, part.ParamValue = p.Query.DateArg, d
		return part
	}
	listed := false
	for _, sp := range params {
		v := sp
		v.Value = strings.ReplaceAll(v.Value, dsToken, d.String())
		part.Params = append(part.Params, v)
		listed = listed || sp.Name == param
	}
	if hasParam {
		part.ParamName, part.ParamValue = param, d.AddDays(offset)
		if !listed {
			part.Params = append(part.Params, warehouse.Param{Name: param, Type: "DATE", Value: part.ParamValue.String()})
		}
	}
	return part
}

const dsToken = "{{ds}}"

// parseParameters reads scheduling.parameters ("name:TYPE:value"). An
// empty type is STRING; "{{ ds }}" is normalised to "{{ds}}"; a DATE
// parameter must have the value {{ds}}.
func parseParameters(raw []string) ([]warehouse.Param, error) {
	var out []warehouse.Param
	for _, r := range raw {
		parts := strings.SplitN(r, ":", 3)
		if len(parts) != 3 || parts[0] == "" {
			return nil, fmt.Errorf("unable to parse parameter %q: scheduling.parameters items are name:TYPE:value", r)
		}
		typ := strings.ToUpper(parts[1])
		if typ == "" {
			typ = "STRING"
		}
		val := parts[2]
		if strings.ReplaceAll(val, " ", "") == dsToken {
			val = dsToken
		}
		if typ == "DATE" && val != dsToken {
			return nil, fmt.Errorf("unable to parse parameter %q: a DATE parameter of a backfilled table must have the value {{ds}}", r)
		}
		out = append(out, warehouse.Param{Name: parts[0], Type: typ, Value: val})
	}
	return out, nil
}

// planQuery decides which file computes the partitions.
func planQuery(t *Table, e *Entry, target *config.Target) (Query, error) {
	var q Query
	switch {
	case e.CustomQueryPath != "":
		found, err := t.ResolveCustomQuery(e.CustomQueryPath)
		if err != nil {
			return q, err
		}
		q = Query{Kind: QuerySQL, Path: found, Custom: true}
		if strings.HasSuffix(found, ".py") {
			q.Kind = QueryPython
		}
	case t.HasQueryPy:
		q = Query{Kind: QueryPython, Path: path.Join(t.Dir, QueryPythonFile)}
	case t.HasQuerySQL:
		q = Query{Kind: QuerySQL, Path: path.Join(t.Dir, QuerySQLFile)}
	default:
		return q, fmt.Errorf("no query to run: %s has neither %s nor %s, and the entry has no custom_query_path", t.Path(""), QuerySQLFile, QueryPythonFile)
	}
	if q.Kind == QueryPython {
		if e.Reinitialize() {
			return q, fmt.Errorf("reinitialize_table is not supported for python-script tables: %s", t.Ref)
		}
		if target != nil {
			return q, errors.New(targetScriptMessage(target.Name))
		}
		if e.QueryScriptEntrypoint == "" || e.QueryScriptDateArg == "" {
			return q, fmt.Errorf("backfill for query scripts require query_script_entrypoint and query_script_date_arg: %s", q.Path)
		}
		q.Entrypoint, q.DateArg, q.DryRunArg = e.QueryScriptEntrypoint, e.QueryScriptDateArg, e.QueryScriptDryRunArg
		q.Args = append([]string(nil), e.QueryScriptArgs...)
	} else if e.Reinitialize() && !t.QueryUsesIsInit() {
		return q, fmt.Errorf("cannot reinitialize %s: query.sql does not use is_init()", t.Ref)
	}
	return q, nil
}

// enumerate lists the dates of an entry for a partition type (reference
// §5.7): every day from start to end without the excluded dates; for MONTH
// the first of each month from the start's month to the end's month,
// without every month that has an excluded date.
func enumerate(e *Entry, t warehouse.PartitionType) []civil.Date {
	if t != warehouse.Month {
		return e.Dates()
	}
	excluded := map[civil.Date]bool{}
	for _, d := range e.ExcludedDates {
		excluded[firstOfMonth(d)] = true
	}
	var out []civil.Date
	for d := firstOfMonth(e.StartDate); !d.After(e.EndDate); d = d.AddMonths(1) {
		if !excluded[d] {
			out = append(out, d)
		}
	}
	return out
}

// Dates returns the dates plan-style enumeration yields for an entry of a
// table with partition type t (see NewPlan).
func Dates(e *Entry, t warehouse.PartitionType) []civil.Date { return enumerate(e, t) }

func firstOfMonth(d civil.Date) civil.Date { return civil.Date{Year: d.Year, Month: d.Month, Day: 1} }

// addMonthsClipped adds n months keeping the day of month, clipped to the
// last day of the resulting month (2021-03-31 minus one month is
// 2021-02-28), as Python's relativedelta does.
func addMonthsClipped(d civil.Date, n int) civil.Date {
	first := firstOfMonth(d).AddMonths(n)
	last := first.AddMonths(1).AddDays(-1)
	if d.Day > last.Day {
		return last
	}
	return civil.Date{Year: first.Year, Month: first.Month, Day: d.Day}
}

// partitionID formats the decorator of the partition holding d.
func partitionID(t warehouse.PartitionType, d civil.Date) string {
	return warehouse.PartitionID(t, d.In(time.UTC))
}
