package backfill_test

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/config"
	"github.com/bqbackfill/bqbackfill/shared/metadata"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

func ref(s string) warehouse.TableRef {
	r, err := warehouse.ParseTableRef(s)
	if err != nil {
		panic(err)
	}
	return r
}

// planTable builds a table with the metadata md and the given files.
func planTable(t *testing.T, name, md string, files ...string) *backfill.Table {
	t.Helper()
	r := ref(name)
	dir := r.Project + "/" + r.Dataset + "/" + r.Table
	fsys := fstest.MapFS{}
	tb := &backfill.Table{Ref: r, FS: fsys, Dir: dir, DisplayRoot: "sql", HasMetadata: true}
	for _, f := range files {
		name, content, _ := strings.Cut(f, "=")
		fsys[dir+"/"+name] = &fstest.MapFile{Data: []byte(content)}
		switch name {
		case "query.sql":
			tb.HasQuerySQL = true
		case "query.py":
			tb.HasQueryPy = true
		}
	}
	m, err := metadata.Parse([]byte(md), "metadata.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tb.Metadata = m
	return tb
}

func entryFor(entry, start, end string, excluded ...string) *backfill.Entry {
	e := &backfill.Entry{EntryDate: date(entry), StartDate: date(start), EndDate: date(end), Reason: "r", Watchers: []string{"a@b.co"}, Status: backfill.Initiate}
	for _, x := range excluded {
		e.ExcludedDates = append(e.ExcludedDates, date(x))
	}
	return e
}

const (
	mdDay   = "bigquery:\n  time_partitioning:\n    type: day\n    field: submission_date\n"
	mdMonth = "scheduling:\n  date_partition_parameter: month_start_date\nbigquery:\n  time_partitioning:\n    type: month\n    field: month_start_date\n"
)

func ids(p *backfill.Plan) []string {
	var out []string
	for _, pt := range p.Partitions {
		out = append(out, pt.ID)
	}
	return out
}

// TestStagingNames are the reference §4.1/§4.2 examples.
func TestStagingNames(t *testing.T) {
	s := config.Default()
	for _, tc := range []struct{ table, entry, staging, backup string }{
		{"moz-fx-data-shared-prod.test.test_query_v1", "2023-05-30",
			"moz-fx-data-shared-prod.backfills_staging_derived.test__test_query_v1_2023_05_30",
			"moz-fx-data-shared-prod.backfills_staging_derived.test__test_query_v1_backup_2023_05_30"},
		{"moz-fx-data-experiments.monitoring.analysis_results_v1", "2021-05-03",
			"moz-fx-data-shared-prod.backfills_staging_derived.moz_fx_data_experiments__monitoring__analysis_results_v1_2021_05_03",
			"moz-fx-data-shared-prod.backfills_staging_derived.moz_fx_data_experiments__monitoring__analysis_results_v1_backup_2021_05_03"},
	} {
		if got := backfill.StagingTable(ref(tc.table), date(tc.entry), s, nil).String(); got != tc.staging {
			t.Errorf("staging %s", got)
		}
		if got := backfill.BackupTable(ref(tc.table), date(tc.entry), s, nil).String(); got != tc.backup {
			t.Errorf("backup %s", got)
		}
	}
}

// TestPlanTarget is the §4.5 example: staging in the target project, the
// target-deployed table swapped, queries billed to the target.
func TestPlanTarget(t *testing.T) {
	tgt := &config.Target{Name: "dev", Project: "sandbox", DatasetPrefix: "dev_mybranch__{{ artifact.project_id }}__"}
	tb := planTable(t, "moz-fx-data-shared-prod.test_derived.test_table_v1", mdDay+"labels:\n  public_bigquery: true\n", "query.sql=SELECT 1")
	p, err := backfill.NewPlan(tb, entryFor("2021-05-03", "2021-05-01", "2021-05-02"), config.Default(), tgt)
	if err != nil {
		t.Fatal(err)
	}
	if p.Staging.String() != "sandbox.backfills_staging_derived.test_derived__test_table_v1_2021_05_03" {
		t.Errorf("staging %s", p.Staging)
	}
	if p.Effective.String() != "sandbox.dev_mybranch__moz_fx_data_shared_prod__test_derived.test_table_v1" {
		t.Errorf("effective %s", p.Effective)
	}
	if p.SwapDestination != p.Effective || p.BillingProject != "sandbox" || p.Target != "dev" {
		t.Errorf("swap %s billing %s target %q", p.SwapDestination, p.BillingProject, p.Target)
	}
	// Without the target the public table swaps into the public project.
	p, err = backfill.NewPlan(tb, entryFor("2021-05-03", "2021-05-01", "2021-05-02"), config.Default(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.SwapDestination.String() != "mozilla-public-data.test_derived.test_table_v1" || p.BillingProject != "moz-fx-data-backfill-slots" {
		t.Errorf("swap %s billing %s", p.SwapDestination, p.BillingProject)
	}
	e := entryFor("2021-05-03", "2021-05-01", "2021-05-02")
	e.BillingProject = "moz-fx-data-backfill-7"
	if p, _ = backfill.NewPlan(tb, e, config.Default(), tgt); p.BillingProject != "moz-fx-data-backfill-7" {
		t.Errorf("entry billing project under a target: %s", p.BillingProject)
	}
}

func TestPlanPartitions(t *testing.T) {
	s := config.Default()
	for _, tc := range []struct {
		name       string
		md         string
		entry      *backfill.Entry
		ignoreOff  bool
		ids        []string
		dates      []string
		params     []string // "name=value" of the first partition; nil: not checked
		sequential bool
		seed       string
		whole      bool
	}{
		{name: "day", md: mdDay, entry: entryFor("2021-01-10", "2021-01-03", "2021-01-06", "2021-01-05"),
			ids: []string{"20210103", "20210104", "20210106"}, params: []string{"submission_date=2021-01-03"}},
		{name: "month whole-month exclusion", md: mdMonth, entry: entryFor("2020-03-10", "2020-01-01", "2020-03-05", "2020-02-02"),
			ids: []string{"202001", "202003"}, dates: []string{"2020-01-01", "2020-03-01"}, params: []string{"month_start_date=2020-01-01"}},
		{name: "month start moved to the 1st", md: mdMonth, entry: entryFor("2020-03-10", "2020-01-15", "2020-02-01"),
			ids: []string{"202001", "202002"}, dates: []string{"2020-01-01", "2020-02-01"}},
		{name: "day offset", md: "scheduling:\n  date_partition_offset: -2\n" + mdDay, entry: entryFor("2021-01-10", "2021-01-03", "2021-01-04"),
			ids: []string{"20210101", "20210102"}, dates: []string{"2021-01-03", "2021-01-04"}, params: []string{"submission_date=2021-01-01"}},
		{name: "ignore offset", md: "scheduling:\n  date_partition_offset: -2\n" + mdDay, entry: entryFor("2021-01-10", "2021-01-03", "2021-01-04"), ignoreOff: true,
			ids: []string{"20210103", "20210104"}, params: []string{"submission_date=2021-01-03"}},
		{name: "unpartitioned: one job", md: "scheduling:\n  dag_name: x\n", entry: entryFor("2021-01-10", "2021-01-03", "2021-01-06"),
			ids: []string{""}, dates: []string{"2021-01-06"}, params: []string{"submission_date=2021-01-06"}, whole: true},
		{name: "null parameter: one job", md: "scheduling:\n  date_partition_parameter: null\n" + mdDay, entry: entryFor("2021-01-10", "2021-01-03", "2021-01-06"),
			ids: []string{""}, params: []string{}, whole: true},
		{name: "null parameter with offset: per partition, no parameter", md: "scheduling:\n  date_partition_parameter: null\n  date_partition_offset: -1\n" + mdDay, entry: entryFor("2021-01-10", "2021-01-03", "2021-01-04"),
			ids: []string{"20210102", "20210103"}, params: []string{}},
		{name: "depends_on_past: sequential with seed", md: "scheduling:\n  depends_on_past: true\n" + mdDay, entry: entryFor("2021-01-10", "2021-01-03", "2021-01-05"),
			ids: []string{"20210103", "20210104", "20210105"}, sequential: true, seed: "20210102"},
		{name: "depends_on_past month seed", md: "scheduling:\n  depends_on_past: true\n  date_partition_parameter: month_start_date\nbigquery:\n  time_partitioning:\n    type: month\n", entry: entryFor("2021-03-10", "2021-01-03", "2021-02-05"),
			ids: []string{"202101", "202102"}, sequential: true, seed: "202012"},
		{name: "scheduling parameters", md: "scheduling:\n  parameters:\n  - submission_date:DATE:{{ds}}\n  - n:INT64:3\n  - s::{{ds}}\n" + mdDay, entry: entryFor("2021-01-10", "2021-01-03", "2021-01-03"),
			ids: []string{"20210103"}, params: []string{"submission_date=2021-01-03", "n=3", "s=2021-01-03"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.entry.IgnoreDatePartitionOffset = tc.ignoreOff
			p, err := backfill.NewPlan(planTable(t, "moz-fx-data-shared-prod.d.t_v1", tc.md, "query.sql=SELECT 1"), tc.entry, s, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(p); !reflect.DeepEqual(got, tc.ids) {
				t.Errorf("ids %q, want %q", got, tc.ids)
			}
			if tc.dates != nil {
				var got []string
				for _, pt := range p.Partitions {
					got = append(got, pt.Date.String())
				}
				if !reflect.DeepEqual(got, tc.dates) {
					t.Errorf("dates %v, want %v", got, tc.dates)
				}
			}
			var params []string
			for _, pr := range p.Partitions[0].Params {
				params = append(params, pr.Name+"="+pr.Value)
			}
			if tc.params != nil && !(len(params) == 0 && len(tc.params) == 0) && !reflect.DeepEqual(params, tc.params) {
				t.Errorf("params %v, want %v", params, tc.params)
			}
			if p.Sequential != tc.sequential || p.WholeTableSwap != tc.whole {
				t.Errorf("sequential %v whole %v", p.Sequential, p.WholeTableSwap)
			}
			seed := ""
			if p.Seed != nil {
				seed = p.Seed.ID
				if p.Seed.Source != p.Effective {
					t.Errorf("seed source %s", p.Seed.Source)
				}
			}
			if seed != tc.seed {
				t.Errorf("seed %q, want %q", seed, tc.seed)
			}
		})
	}
}

func TestPlanOverridesAndErrors(t *testing.T) {
	s := config.Default()
	nullDop := "scheduling:\n  depends_on_past: true\n  date_partition_parameter: null\nbigquery:\n  time_partitioning:\n    type: day\n    field: first_seen_date\n"
	e := entryFor("2021-01-10", "2021-01-03", "2021-01-04")
	e.OverrideDependsOnPastNullPartition = true
	e.CustomQueryPath = "sql/moz-fx-data-shared-prod/d/t_v1/fix.sql"
	p, err := backfill.NewPlan(planTable(t, "moz-fx-data-shared-prod.d.t_v1", nullDop, "fix.sql=SELECT 1"), e, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Sequential || p.Seed != nil || p.Partitions[0].ParamName != "submission_date" || p.Partitions[0].ID != "20210103" || !p.Query.Custom || p.Query.Path != "moz-fx-data-shared-prod/d/t_v1/fix.sql" {
		t.Errorf("null-partition override: %+v", p)
	}

	re := entryFor("2021-01-10", "2021-01-03", "2021-01-04")
	yes := true
	re.ReinitializeTable = &yes
	p, err = backfill.NewPlan(planTable(t, "moz-fx-data-shared-prod.d.t_v1", nullDop, "query.sql={% if is_init() %}SELECT 1{% endif %}"), re, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.ReinitializeBatchSize != 20 || !p.WholeTableSwap || len(p.Partitions) != 1 || p.Partitions[0].ID != "" {
		t.Errorf("reinitialize: %+v", p)
	}

	py := entryFor("2021-01-10", "2021-01-03", "2021-01-04")
	py.QueryScriptEntrypoint, py.QueryScriptDateArg, py.QueryScriptArgs = "main", "date", []string{"--x=1"}
	tb := planTable(t, "moz-fx-data-shared-prod.d.t_v1", "scheduling:\n  date_partition_offset: -1\n"+mdDay, "query.py=print(1)")
	p, err = backfill.NewPlan(tb, py, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Query.Kind != backfill.QueryPython || p.Partitions[0].ParamName != "date" || p.Partitions[0].ParamValue != date("2021-01-03") || p.Partitions[0].ID != "20210102" {
		t.Errorf("python: %+v %+v", p.Query, p.Partitions[0])
	}

	for _, tc := range []struct {
		name, md, want string
		files          []string
		entry          *backfill.Entry
		target         *config.Target
	}{
		{"month offset (R12)", "scheduling:\n  date_partition_offset: -7\n" + mdMonth, "offsets unsupported for monthly partitions", []string{"query.sql=x"}, entryFor("2021-03-10", "2021-01-01", "2021-02-01"), nil},
		{"hour partitioning (M2)", "bigquery:\n  time_partitioning:\n    type: hour\n", "unsupported table partitioning", []string{"query.sql=x"}, entryFor("2021-03-10", "2021-01-01", "2021-02-01"), nil},
		{"range partitioning (M2)", "bigquery:\n  range_partitioning:\n    field: sample_id\n    range: {start: 0, end: 100, interval: 1}\n", "integer-range", []string{"query.sql=x"}, entryFor("2021-03-10", "2021-01-01", "2021-02-01"), nil},
		{"no query", mdDay, "no query to run", nil, entryFor("2021-03-10", "2021-01-01", "2021-02-01"), nil},
		{"script without entrypoint (R14)", mdDay, "query_script_entrypoint", []string{"query.py=x"}, entryFor("2021-03-10", "2021-01-01", "2021-02-01"), nil},
		{"script under a target (R5)", mdDay, "--target is not supported", []string{"query.py=x"}, py, &config.Target{Name: "dev", Project: "sandbox"}},
		{"DATE parameter not {{ds}}", "scheduling:\n  parameters: ['d:DATE:{{ macros.ds_add(ds, -1) }}']\n" + mdDay, "unable to parse parameter", []string{"query.sql=x"}, entryFor("2021-03-10", "2021-01-01", "2021-02-01"), nil},
		{"everything excluded", mdDay, "nothing to compute", []string{"query.sql=x"}, entryFor("2021-03-10", "2021-01-01", "2021-01-03", "2021-01-02"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.entry
			if tc.name == "everything excluded" {
				e.StartDate, e.EndDate = date("2021-01-02"), date("2021-01-02")
			}
			_, err := backfill.NewPlan(planTable(t, "moz-fx-data-shared-prod.d.t_v1", tc.md, tc.files...), e, s, tc.target)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestDatesMonthClipping(t *testing.T) {
	e := entryFor("2021-04-10", "2021-03-31", "2021-03-31")
	got := backfill.Dates(e, warehouse.Month)
	if len(got) != 1 || got[0] != (civil.Date{Year: 2021, Month: 3, Day: 1}) {
		t.Errorf("dates %v", got)
	}
	p, err := backfill.NewPlan(planTable(t, "p.d.t", "scheduling:\n  depends_on_past: true\n  date_partition_parameter: m\nbigquery:\n  time_partitioning:\n    type: month\n", "query.sql=x"), e, config.Default(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Seed.Date != date("2021-02-28") || p.Seed.ID != "202102" {
		t.Errorf("seed %+v", p.Seed)
	}
}
