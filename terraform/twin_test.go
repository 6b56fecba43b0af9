package terraform_test

// The deployment twin (issue 9): the BigQuery grants terraform makes in the
// prod environment, applied to the BigQuery fake with permissions enforced
// (shared/warehouse/bqfake EnforceIAM), and the whole pipeline run with each
// component as its own service account: the scanner starts (staging like
// production, IAM mirrored, depends_on_past seed), the worker runs the
// partitions, the completion backs up, mirrors IAM onto the backup and
// swaps, and a rollback restores (run as the completion account: the CLI
// runs as whoever operates it). Removing one grant a step needs makes the
// twin fail at that step with BigQuery's message naming the permission.
// GCS, Pub/Sub and Cloud Run calls are not authorised here: the ledger,
// the publisher and the launcher are shared in-memory fakes (iam_test.go
// checks those grants against the code statically).

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"cloud.google.com/go/civil"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	bq "google.golang.org/api/bigquery/v2"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/queue"
	"github.com/bqbackfill/bqbackfill/shared/treescan"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	bqw "github.com/bqbackfill/bqbackfill/shared/warehouse/bigquery"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

var twinNow = time.Date(2024, 3, 20, 12, 0, 0, 0, time.UTC)

const (
	twinProd  = "moz-fx-data-shared-prod"
	twinEntry = "2024-03-20"
)

// twinTables of the scenarios: a depends_on_past table in a production
// dataset, the same as a public_bigquery table, and a table in a dataset
// terraform grants nothing on.
var (
	twinTable    = warehouse.TableRef{Project: twinProd, Dataset: "addons_derived", Table: "twin_v1"}
	twinPublic   = warehouse.TableRef{Project: "mozilla-public-data", Dataset: "addons_derived", Table: "twin_v1"}
	twinUnlisted = warehouse.TableRef{Project: twinProd, Dataset: "unlisted_derived", Table: "twin_v1"}
	twinSource   = warehouse.TableRef{Project: twinProd, Dataset: "telemetry_live", Table: "events_v1"}
)

func twinTree(table warehouse.TableRef, status string, public bool) fstest.MapFS {
	dir := table.Project + "/" + table.Dataset + "/" + table.Table + "/"
	labels := ""
	if public {
		labels = "labels:\n  public_bigquery: true\n"
	}
	return fstest.MapFS{
		dir + "metadata.yaml": {Data: []byte("friendly_name: Twin\ndescription: Twin.\nowners:\n  - test@example.com\n" + labels +
			"scheduling:\n  dag_name: bqetl_twin\n  depends_on_past: true\nbigquery:\n  time_partitioning:\n    type: day\n    field: submission_date\n")},
		dir + "query.sql": {Data: []byte("SELECT @submission_date AS submission_date, COUNT(*) AS n FROM `" + twinSource.String() +
			"` WHERE submission_date = @submission_date\nUNION ALL SELECT submission_date, n FROM `" + table.String() + "` WHERE FALSE\n")},
		dir + "backfill.yaml": {Data: []byte(twinEntry + ":\n  start_date: 2024-03-18\n  end_date: 2024-03-20\n  reason: Twin (TEST-1).\n  watchers:\n  - test@example.com\n  status: " + status + "\n")},
	}
}

// twinPublisher keeps published messages per topic.
type twinPublisher struct {
	mu   sync.Mutex
	msgs map[string][]queue.Message
}

func (p *twinPublisher) Publish(_ context.Context, topic string, msgs ...queue.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.msgs == nil {
		p.msgs = map[string][]queue.Message{}
	}
	p.msgs[topic] = append(p.msgs[topic], msgs...)
	return nil
}

func (p *twinPublisher) take(topic string) []queue.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.msgs[topic]
	delete(p.msgs, topic)
	return out
}

type twinLauncher struct{}

func (twinLauncher) Launch(context.Context, string, int) (string, error) { return "execution-1", nil }
func (twinLauncher) Running(context.Context) (bool, error)               { return false, nil }

// twin is one run of the fake deployment.
type twin struct {
	t     *testing.T
	ctx   context.Context
	fake  *bqfake.Server
	pub   *twinPublisher
	led   *ledger.Store
	comps map[string]*pipeline.Pipeline // scanner, worker, completion
}

// newTwin builds the fake with the given grants applied and one pipeline
// per component, each as its own service account.
func newTwin(t *testing.T, e *environment, cs []*component, gs []grant) *twin {
	t.Helper()
	ctx := context.Background()
	fake := bqfake.New()
	t.Cleanup(fake.Close)
	fake.SetClock(func() time.Time { return twinNow })

	// Production: the table with its dataset's and its own permissions, the
	// upstream table, the public copy, a dataset without grants.
	prodFields := []*bq.TableFieldSchema{bqfake.Column("submission_date", "DATE"), bqfake.Column("n", "INTEGER")}
	for _, ref := range []warehouse.TableRef{twinTable, twinPublic, twinUnlisted, twinSource} {
		fake.PutTable(&bq.Table{
			TableReference:   &bq.TableReference{ProjectId: ref.Project, DatasetId: ref.Dataset, TableId: ref.Table},
			Schema:           &bq.TableSchema{Fields: prodFields},
			TimePartitioning: &bq.TimePartitioning{Type: "DAY", Field: "submission_date"},
		})
		for _, d := range []string{"20240317", "20240318", "20240319", "20240320"} {
			if err := fake.SetPartitionRows(ref, d, 2); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := fake.SetTableIAM(twinTable, &bq.Policy{Bindings: []*bq.Binding{
		{Role: "roles/bigquery.dataViewer", Members: []string{"group:addons-readers@example.com", "allAuthenticatedUsers"}},
	}}); err != nil {
		t.Fatal(err)
	}
	staging := e.rootOutput(t, "staging_dataset").AsString()
	sp, sd, _ := strings.Cut(staging, ".")
	fake.AddDataset(sp, sd)

	// The grants.
	access := map[string][]*bq.DatasetAccess{}
	for _, g := range gs {
		switch g.kind {
		case "project":
			fake.GrantProject(g.target, g.role, g.member)
		case "dataset":
			role := g.role
			if _, predefined := rolePermissions[role]; !predefined {
				fake.DefineRole(role, permissions(t, e, role))
			}
			access[g.target] = append(access[g.target], &bq.DatasetAccess{Role: role, IamMember: g.member})
		}
	}
	for _, ref := range []warehouse.TableRef{twinTable, twinPublic, twinUnlisted, twinSource} {
		access[ref.Project+"."+ref.Dataset] = append(access[ref.Project+"."+ref.Dataset], &bq.DatasetAccess{Role: "READER", GroupByEmail: "everyone@example.com"})
	}
	access[staging] = append(access[staging], &bq.DatasetAccess{Role: "OWNER", GroupByEmail: "staging-owners@example.com"})
	for ds, a := range access {
		p, d, _ := strings.Cut(ds, ".")
		fake.SetDatasetAccess(p, d, a)
	}
	fake.EnforceIAM(true)

	// Every partition query returns two rows of its day.
	fake.OnQuery(func(q *bqfake.Query) (*bqfake.Result, error) {
		if q.Destination == nil {
			return nil, nil
		}
		d, ok := q.Param("submission_date")
		if !ok {
			return nil, nil
		}
		day, err := civil.ParseDate(d)
		if err != nil {
			return nil, err
		}
		return &bqfake.Result{Schema: prodFields, Rows: [][]any{{day, 1}, {day, 2}}}, nil
	})

	gcs, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gcs.Stop)
	gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "ledger"})
	tw := &twin{t: t, ctx: ctx, fake: fake, pub: &twinPublisher{}, led: ledger.New(gcs.Client(), "ledger"), comps: map[string]*pipeline.Pipeline{}}
	for _, c := range cs {
		if c.name == "notifier" {
			continue
		}
		email := strings.TrimPrefix(c.member, "serviceAccount:")
		w, err := bqw.NewWithConfig(ctx, bqw.Config{
			Project:     c.env["BQBACKFILL_PROJECT"].value,
			Retry:       bqw.RetryPolicy{Attempts: 1},
			CallTimeout: 30 * time.Second,
			Sleep:       func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
		}, fake.ClientOptionsAs(email)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		tw.comps[c.name] = &pipeline.Pipeline{
			Ledger: tw.led, Warehouse: w, Publisher: tw.pub, Launcher: twinLauncher{},
			Topics:  pipeline.Topics{Partitions: "partitions", Complete: "complete", Events: "events", DeadLetter: "dead-letter"},
			Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
			Now:     func() time.Time { return twinNow },
			Options: pipeline.Options{Retry: pipeline.Retry{Attempts: 1, Initial: time.Millisecond, Max: time.Millisecond}},
		}
	}
	for _, name := range []string{"scanner", "worker", "completion"} {
		if tw.comps[name] == nil {
			t.Fatalf("terraform deploys no %s", name)
		}
	}
	return tw
}

// scan runs the scanner over the tree; errors are returned, not fatal.
func (tw *twin) scan(tree fstest.MapFS) error {
	desired, problems := treescan.Desired(tw.ctx, tree, treescan.Options{Now: twinNow, Tree: "trees/twin.zip"})
	if len(problems) > 0 {
		return fmt.Errorf("tree problems: %+v", problems)
	}
	var errs []string
	for _, a := range tw.comps["scanner"].Scan(tw.ctx, desired) {
		if a.Err != nil {
			errs = append(errs, a.Err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("scanner: %s", strings.Join(errs, "; "))
	}
	return nil
}

// work runs the published partitions as the worker.
func (tw *twin) work() error {
	for round := 0; round < 20; round++ {
		msgs := tw.pub.take("partitions")
		if len(msgs) == 0 {
			return nil
		}
		for i, m := range msgs {
			out := tw.comps["worker"].HandlePartition(tw.ctx, queue.Received{ID: fmt.Sprint(round, i), Data: m.Data, Attributes: m.Attributes, DeliveryAttempt: 5}, nil)
			if out != queue.Ack {
				return fmt.Errorf("worker: partition %s: outcome %v", m.Attributes["partition"], out)
			}
		}
	}
	return fmt.Errorf("worker: the partitions never ran out")
}

// failure is what the ledger and the watchers were told went wrong.
func (tw *twin) failure(table warehouse.TableRef) string {
	b, err := tw.led.Get(tw.ctx, pipeline.BackfillID(table, twinEntry))
	if err != nil {
		return ""
	}
	var parts []string
	if b.LastError != "" {
		parts = append(parts, b.LastError)
	}
	ps, _ := tw.led.ListPartitions(tw.ctx, b.ID)
	for _, p := range ps {
		if p.Error != "" {
			parts = append(parts, p.ID+": "+p.Error)
		}
	}
	return strings.Join(parts, "; ")
}

func (tw *twin) state(table warehouse.TableRef) ledger.State {
	b, err := tw.led.Get(tw.ctx, pipeline.BackfillID(table, twinEntry))
	if err != nil {
		return ""
	}
	return b.State
}

// events are the texts of the events sent to the watchers.
func (tw *twin) events() []string {
	var out []string
	for _, m := range tw.pub.take("events") {
		out = append(out, string(m.Data))
	}
	return out
}

// run drives one backfill of table from Initiate to a rollback and returns
// the first step that failed, with what it said ("" when all went well).
func (tw *twin) run(table warehouse.TableRef, public bool) (step, msg string) {
	if err := tw.scan(twinTree(table, "Initiate", public)); err != nil {
		return "start", err.Error()
	}
	if st := tw.state(table); st != ledger.StateProcessing && st != ledger.StateProcessed {
		return "start", fmt.Sprintf("state %s: %s", st, tw.failure(table))
	}
	if err := tw.work(); err != nil {
		return "partitions", err.Error() + ": " + tw.failure(table)
	}
	if err := tw.scan(twinTree(table, "Initiate", public)); err != nil {
		return "partitions", err.Error()
	}
	if st := tw.state(table); st != ledger.StateProcessed {
		return "partitions", fmt.Sprintf("state %s: %s", st, tw.failure(table))
	}
	if err := tw.scan(twinTree(table, "Complete", public)); err != nil {
		return "complete request", err.Error()
	}
	if got := tw.pub.take("complete"); len(got) != 1 {
		return "complete request", fmt.Sprintf("%d completion requests", len(got))
	}
	if err := tw.comps["completion"].Complete(tw.ctx, pipeline.BackfillID(table, twinEntry)); err != nil {
		return "complete", err.Error()
	}
	if st := tw.state(table); st != ledger.StateCompleted {
		return "complete", fmt.Sprintf("state %s: %s", st, tw.failure(table))
	}
	if _, _, err := tw.comps["completion"].Rollback(tw.ctx, table); err != nil {
		return "rollback", err.Error()
	}
	return "", ""
}

func twinSetup(t *testing.T) (*environment, []*component, []grant) {
	t.Helper()
	cfg := loadConfig(t)
	e := loadEnvironment(t, cfg, "prod")
	g := loadGoFacts(t)
	return e, components(t, e, g), grants(t, e)
}

// With terraform's grants the whole backfill runs, and the backup gets
// production's permissions (F1).
func TestTwinBackfill(t *testing.T) {
	e, cs, gs := twinSetup(t)
	tw := newTwin(t, e, cs, gs)
	if step, msg := tw.run(twinTable, false); step != "" {
		t.Fatalf("the deployment fails at %s: %s", step, msg)
	}
	staging := e.rootOutput(t, "staging_dataset").AsString()
	sp, sd, _ := strings.Cut(staging, ".")
	backup := warehouse.TableRef{Project: sp, Dataset: sd, Table: "addons_derived__twin_v1_backup_2024_03_20"}
	pol := tw.fake.TableIAM(backup)
	if pol == nil || len(pol.Bindings) == 0 {
		t.Errorf("the backup %s has no mirrored permissions: %+v", backup, pol)
	}
}

// A table in a dataset terraform grants nothing on fails its start once,
// clearly, and tells the watchers; it does not loop (F3).
func TestTwinDatasetWithoutGrants(t *testing.T) {
	e, cs, gs := twinSetup(t)
	tw := newTwin(t, e, cs, gs)
	step, _ := tw.run(twinUnlisted, false)
	if step != "start" {
		t.Fatalf("failed at %q, want at the start", step)
	}
	if st := tw.state(twinUnlisted); st != ledger.StateFailed {
		t.Fatalf("state %s, want failed (not left to be retried every scan)", st)
	}
	msg := tw.failure(twinUnlisted)
	if !strings.Contains(msg, "bigquery.tables.get") {
		t.Errorf("the failure %q does not name the missing permission", msg)
	}
	if ev := strings.Join(tw.events(), "\n"); !strings.Contains(ev, "bigquery.tables.get") {
		t.Errorf("the watchers were not told which permission is missing: %q", ev)
	}
}

// A public_bigquery table swaps into mozilla-public-data, on which
// terraform grants nothing: the completion is refused once with an event
// naming the permission, not retried forever (F3).
func TestTwinPublicTable(t *testing.T) {
	e, cs, gs := twinSetup(t)
	tw := newTwin(t, e, cs, gs)
	step, msg := tw.run(twinTable, true)
	if step != "complete" {
		t.Fatalf("failed at %q (%s), want at the completion", step, msg)
	}
	if st := tw.state(twinTable); st != ledger.StateFailed {
		t.Fatalf("state %s (%s), want failed: a 403 is not retried", st, msg)
	}
	if f := tw.failure(twinTable); !strings.Contains(f, "mozilla-public-data") || !strings.Contains(f, "Permission bigquery.") {
		t.Errorf("the failure %q does not say which permission on which table is missing", f)
	}
}

// Removing any one BigQuery grant the backfill needs makes the twin fail
// at the step that needs it, with BigQuery's message naming the
// permission.
func TestTwinMissingGrant(t *testing.T) {
	e, cs, gs := twinSetup(t)
	staging := e.rootOutput(t, "staging_dataset").AsString()
	relevant := map[string]bool{
		staging: true, twinTable.Project + "." + twinTable.Dataset: true,
		twinSource.Project: true, "bqbackfill-prod": true, "moz-fx-data-backfill-slots": true,
	}
	// Grants no step of this backfill fails without: they serve lookups
	// whose failure is reported, not fatal.
	notExercised := map[string]string{
		`google_bigquery_dataset_access.worker_reads_production["moz-fx-data-shared-prod.addons_derived"]`: "the done report's production row counts",
		`google_project_iam_member.scanner_job_user["bqbackfill-prod"]`:                                    "INFORMATION_SCHEMA lookups in the default project",
		`google_project_iam_member.worker_job_user["bqbackfill-prod"]`:                                     "INFORMATION_SCHEMA lookups in the default project",
	}
	var tested []string
	for i, g := range gs {
		if (g.kind != "project" && g.kind != "dataset") || !relevant[g.target] || !strings.HasPrefix(g.role, "roles/bigquery.") && g.kind == "project" {
			continue
		}
		if why := notExercised[g.addr]; why != "" {
			t.Logf("%s serves %s; no step fails without it", g.addr, why)
			continue
		}
		rest := append(append([]grant(nil), gs[:i]...), gs[i+1:]...)
		t.Run(g.addr, func(t *testing.T) {
			tw := newTwin(t, e, cs, rest)
			step, msg := tw.run(twinTable, false)
			if step == "" {
				t.Fatalf("the backfill ran without %s (%s %s on %s %s): the grant serves no step", g.addr, g.member, g.role, g.kind, g.target)
			}
			if !strings.Contains(msg, "bigquery.") || !(strings.Contains(msg, "denied") || strings.Contains(msg, "does not have")) {
				t.Errorf("fails at %s with %q, which does not name the missing permission", step, msg)
			}
			t.Logf("without %s: fails at %s: %s", g.addr, step, firstLine(msg))
		})
		tested = append(tested, g.addr)
	}
	sort.Strings(tested)
	if len(tested) < 6 {
		t.Errorf("only %d grants tested: %v", len(tested), tested)
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// A partition whose query fails for good fails the backfill; retry (run
// here as the scanner, which holds the same BigQuery grants as anyone who
// may queue partitions again) re-runs it as the worker and the backfill
// completes with terraform's grants.
func TestTwinRetry(t *testing.T) {
	e, cs, gs := twinSetup(t)
	tw := newTwin(t, e, cs, gs)
	tw.fake.FailJobs(bqfake.JobFault{Type: "QUERY", Table: "$20240319", Reason: "invalidQuery", Message: "Syntax error (injected)", Times: 1})
	if err := tw.scan(twinTree(twinTable, "Initiate", false)); err != nil {
		t.Fatal(err)
	}
	_ = tw.work() // the failing partition is recorded failed
	if err := tw.scan(twinTree(twinTable, "Initiate", false)); err != nil {
		t.Fatal(err)
	}
	if st := tw.state(twinTable); st != ledger.StateFailed {
		t.Fatalf("state %s, want failed", st)
	}
	if _, n, err := tw.comps["scanner"].Retry(tw.ctx, twinTable); err != nil || n == 0 {
		t.Fatalf("retry: %d partitions, %v", n, err)
	}
	if err := tw.work(); err != nil {
		t.Fatalf("after retry: %v", err)
	}
	if err := tw.scan(twinTree(twinTable, "Initiate", false)); err != nil {
		t.Fatal(err)
	}
	if st := tw.state(twinTable); st != ledger.StateProcessed {
		t.Fatalf("after retry: state %s (%s), want processed", st, tw.failure(twinTable))
	}
}
