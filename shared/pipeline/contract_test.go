package pipeline_test

// The pipeline's contract with BigQuery: a depends_on_past backfill of a
// workgroup-restricted table driven through start, the workers and
// completion against the real BigQuery adapter (shared/warehouse/bigquery)
// pointed at the REST fake (shared/warehouse/bqfake), with the ledger on an
// in-memory fake-gcs-server and in-memory fakes of the publisher and the
// launcher. The tests assert the REST requests BigQuery would receive: the
// staging table, the seed copy, the rewritten query of each partition with
// its destination, parameters and billing project, the IAM policies written
// onto staging and the backup, the CLONE backup, the swap's copies and the
// deletion of staging.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	bq "google.golang.org/api/bigquery/v2"
	"google.golang.org/api/option"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/message"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/treescan"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	bqw "github.com/bqbackfill/bqbackfill/shared/warehouse/bigquery"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

const (
	prodProject    = "moz-fx-data-shared-prod"
	billingProject = "moz-fx-data-backfill-slots" // the default billing project (reference §3.1)
	entryDate      = "2024-03-20"
)

var (
	now     = time.Date(2024, 3, 20, 12, 0, 0, 0, time.UTC)
	table   = warehouse.TableRef{Project: prodProject, Dataset: "special_derived", Table: "running_visits_v1"}
	staging = warehouse.TableRef{Project: prodProject, Dataset: "backfills_staging_derived", Table: "special_derived__running_visits_v1_2024_03_20"}
	backup  = warehouse.TableRef{Project: prodProject, Dataset: "backfills_staging_derived", Table: "special_derived__running_visits_v1_backup_2024_03_20"}
	// The partitions of the entry, and the seed (the day before the start).
	days = []string{"20240318", "20240319", "20240320"}
	seed = "20240317"
)

const tableDir = "moz-fx-data-shared-prod/special_derived/running_visits_v1/"

const metadataYAML = `friendly_name: Running Visits
description: Running total of visits per country.
owners:
  - test@example.com
scheduling:
  dag_name: bqetl_special
  depends_on_past: true
bigquery:
  time_partitioning:
    type: day
    field: submission_date
`

// querySQL reads the table's own previous partition twice, spelled two
// ways BigQuery accepts (the job's default project is the table's).
const querySQL = `SELECT
  @submission_date AS submission_date,
  today.country,
  today.visits,
  COALESCE(yesterday.total, 0) + today.visits AS total
FROM
  (SELECT country, SUM(visits) AS visits FROM ` + "`moz-fx-data-shared-prod.special_live.visits_v1`" + ` WHERE submission_date = @submission_date GROUP BY country) AS today
LEFT JOIN
  (SELECT country, total FROM ` + "`moz-fx-data-shared-prod.special_derived.running_visits_v1`" + ` WHERE submission_date = DATE_SUB(@submission_date, INTERVAL 1 DAY)) AS yesterday
  USING (country)
WHERE
  NOT EXISTS (SELECT 1 FROM special_derived.running_visits_v1 WHERE submission_date = @submission_date AND total < 0)
`

// rewrittenSQL is querySQL with both self-references pointed at staging,
// each keeping the implicit alias the table name gave the FROM item.
const rewrittenSQL = `SELECT
  @submission_date AS submission_date,
  today.country,
  today.visits,
  COALESCE(yesterday.total, 0) + today.visits AS total
FROM
  (SELECT country, SUM(visits) AS visits FROM ` + "`moz-fx-data-shared-prod.special_live.visits_v1`" + ` WHERE submission_date = @submission_date GROUP BY country) AS today
LEFT JOIN
  (SELECT country, total FROM ` + "`moz-fx-data-shared-prod.backfills_staging_derived.special_derived__running_visits_v1_2024_03_20`" + ` AS running_visits_v1 WHERE submission_date = DATE_SUB(@submission_date, INTERVAL 1 DAY)) AS yesterday
  USING (country)
WHERE
  NOT EXISTS (SELECT 1 FROM ` + "`moz-fx-data-shared-prod.backfills_staging_derived.special_derived__running_visits_v1_2024_03_20`" + ` AS running_visits_v1 WHERE submission_date = @submission_date AND total < 0)
`

func backfillYAML(status string) string {
	return entryDate + `:
  start_date: 2024-03-18
  end_date: 2024-03-20
  reason: Drop bot traffic (TEST-3).
  watchers:
  - test@example.com
  status: ` + status + "\n"
}

func tree(status string) fstest.MapFS {
	return fstest.MapFS{
		tableDir + "metadata.yaml": {Data: []byte(metadataYAML)},
		tableDir + "query.sql":     {Data: []byte(querySQL)},
		tableDir + "backfill.yaml": {Data: []byte(backfillYAML(status))},
	}
}

// publisher keeps published messages per topic.
type publisher struct {
	mu   sync.Mutex
	msgs map[string][]message.Message
}

func (p *publisher) Publish(_ context.Context, topic string, msgs ...message.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.msgs == nil {
		p.msgs = map[string][]message.Message{}
	}
	p.msgs[topic] = append(p.msgs[topic], msgs...)
	return nil
}

// take removes and returns the messages of topic.
func (p *publisher) take(topic string) []message.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.msgs[topic]
	delete(p.msgs, topic)
	return out
}

// launcher records the worker capacity asked for.
type launcher struct {
	mu       sync.Mutex
	launches []string
}

func (l *launcher) Launch(_ context.Context, id string, partitions int) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.launches = append(l.launches, fmt.Sprintf("%s %d", id, partitions))
	return "execution-1", nil
}

// Running: the execution launched runs until the test ends.
func (l *launcher) Running(context.Context) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.launches) > 0, nil
}

// contractEnv is the fake BigQuery with the production table, its dataset's
// access list and its IAM policy, and a pipeline using it.
type contractEnv struct {
	ctx  context.Context
	fake *bqfake.Server
	p    *pipeline.Pipeline
	pub  *publisher
	lau  *launcher
	led  *ledger.Store
}

func newContractEnv(t *testing.T) *contractEnv {
	t.Helper()
	return newContractEnvGCS(t, nil)
}

// newContractEnvGCS is newContractEnv with the ledger's HTTP transport
// wrapped by wrap (nil: not wrapped), to inject GCS faults.
func newContractEnvGCS(t *testing.T, wrap func(http.RoundTripper) http.RoundTripper) *contractEnv {
	t.Helper()
	ctx := context.Background()
	fake := bqfake.New()
	t.Cleanup(fake.Close)
	fake.SetClock(func() time.Time { return now })
	fake.AddDataset(prodProject, "backfills_staging_derived")
	fake.SetDatasetAccess(prodProject, "special_derived", []*bq.DatasetAccess{
		{Role: "READER", UserByEmail: "alice@example.com"},
		{Role: "WRITER", UserByEmail: "loader@moz-fx-data-shared-prod.iam.gserviceaccount.com"},
		{Role: "OWNER", GroupByEmail: "data-owners@example.com"},
		{Role: "roles/bigquery.dataViewer", IamMember: "group:workgroup-restricted@example.com"},
		{Role: "READER", SpecialGroup: "projectReaders"},
	})
	fake.PutTable(&bq.Table{
		TableReference: &bq.TableReference{ProjectId: table.Project, DatasetId: table.Dataset, TableId: table.Table},
		Schema: &bq.TableSchema{Fields: []*bq.TableFieldSchema{
			{Name: "submission_date", Type: "DATE", Mode: "NULLABLE"},
			{Name: "country", Type: "STRING", Mode: "NULLABLE"},
			{Name: "visits", Type: "INTEGER", Mode: "NULLABLE"},
			{Name: "total", Type: "INTEGER", Mode: "NULLABLE"},
		}},
		TimePartitioning: &bq.TimePartitioning{Type: "DAY", Field: "submission_date"},
		Labels:           map[string]string{"owner": "test"},
	})
	for _, d := range append([]string{"20240316", seed}, days...) {
		if err := fake.SetPartitionRows(table, d, 2); err != nil {
			t.Fatal(err)
		}
	}
	if err := fake.SetTableIAM(table, &bq.Policy{Bindings: []*bq.Binding{
		{Role: "roles/bigquery.dataViewer", Members: []string{"group:restricted-readers@example.com"}},
	}}); err != nil {
		t.Fatal(err)
	}
	// Each partition's query returns two rows of its day.
	fake.OnQuery(func(q *bqfake.Query) (*bqfake.Result, error) {
		if q.Destination == nil || !strings.HasPrefix(q.Destination.TableId, staging.Table+"$") {
			return nil, nil
		}
		d, ok := q.Param("submission_date")
		if !ok {
			return nil, &bqfake.JobError{Reason: "invalidQuery", Message: "no @submission_date"}
		}
		day, err := civil.ParseDate(d)
		if err != nil {
			return nil, err
		}
		return &bqfake.Result{
			Schema: []*bq.TableFieldSchema{bqfake.Column("submission_date", "DATE"), bqfake.Column("country", "STRING"), bqfake.Column("visits", "INTEGER"), bqfake.Column("total", "INTEGER")},
			Rows:   [][]any{{day, "DE", 1, 101}, {day, "US", 2, 202}},
		}, nil
	})

	w, err := bqw.NewWithConfig(ctx, bqw.Config{
		Project: prodProject,
		// Retry left at its default, as deployed: the driver does not retry.
		CallTimeout: 30 * time.Second,
		Sleep:       func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
	}, fake.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })

	gcs, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gcs.Stop)
	gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "ledger"})
	gcsClient := gcs.Client()
	if wrap != nil {
		c, err := storage.NewClient(ctx, option.WithHTTPClient(&http.Client{Transport: wrap(gcs.HTTPClient().Transport)}), option.WithoutAuthentication())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		gcsClient = c
	}
	led := ledger.New(gcsClient, "ledger")

	e := &contractEnv{ctx: ctx, fake: fake, pub: &publisher{}, lau: &launcher{}, led: led}
	e.p = &pipeline.Pipeline{
		Ledger:    led,
		Warehouse: w,
		Publisher: e.pub,
		Topics:    pipeline.Topics{Partitions: "partitions", Complete: "complete", Events: "events", DeadLetter: "dead-letter"},
		Launcher:  e.lau,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:       func() time.Time { return now },
		Options:   pipeline.Options{Retry: pipeline.Retry{Attempts: 2, Initial: time.Millisecond, Max: time.Millisecond}},
	}
	return e
}

// scan reconciles the tree with the entry in status and returns what it did.
func (e *contractEnv) scan(t *testing.T, status string) []string {
	t.Helper()
	return e.scanTree(t, tree(status))
}

// scanTree reconciles fsys and returns what it did.
func (e *contractEnv) scanTree(t *testing.T, fsys fs.FS) []string {
	t.Helper()
	desired, problems := treescan.Desired(e.ctx, fsys, treescan.Options{Now: now, Tree: "trees/contract.zip"})
	if len(problems) > 0 {
		t.Fatalf("tree problems: %+v", problems)
	}
	var did []string
	for _, a := range e.p.Scan(e.ctx, desired) {
		if a.Err != nil {
			t.Fatalf("scan: %s: %v", a.BackfillID, a.Err)
		}
		if a.Did != "" {
			did = append(did, string(a.Did)+" "+a.BackfillID)
		}
	}
	return did
}

// work hands the published partition messages to the worker until none is
// left, in the order they are published, and returns the partitions handled.
func (e *contractEnv) work(t *testing.T) []string {
	t.Helper()
	var handled []string
	for round := 0; round < 100; round++ {
		msgs := e.pub.take("partitions")
		if len(msgs) == 0 {
			return handled
		}
		for i, m := range msgs {
			out := e.p.HandlePartition(e.ctx, message.Received{ID: fmt.Sprint(round, i), Data: m.Data, Attributes: m.Attributes, DeliveryAttempt: 1}, nil)
			if out != message.Ack {
				t.Fatalf("partition %s: outcome %v, want ack", m.Attributes["partition"], out)
			}
			handled = append(handled, m.Attributes["partition"])
		}
	}
	t.Fatal("the partitions never ran out")
	return nil
}

// insertedJobs decodes the jobs.insert requests recorded since the last
// reset, oldest first, without dry runs (the start's cost estimate).
func (e *contractEnv) insertedJobs(t *testing.T) []*bq.Job {
	t.Helper()
	all, err := e.fake.InsertedJobs()
	if err != nil {
		t.Fatal(err)
	}
	var jobs []*bq.Job
	for _, j := range all {
		if !j.Configuration.DryRun {
			jobs = append(jobs, j)
		}
	}
	return jobs
}

// writes lists the requests that change something, in order, as
// "<op> <resource>": tables.insert/patch/delete and setIamPolicy by path,
// jobs by kind and destination table.
func (e *contractEnv) writes(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, r := range e.fake.Requests() {
		switch r.Op {
		case "tables.insert", "tables.patch", "tables.update", "tables.delete", "tables.setIamPolicy", "datasets.insert", "datasets.patch":
			out = append(out, r.Op+" "+r.Path)
		case "jobs.insert":
			var j bq.Job
			if err := r.Decode(&j); err != nil {
				t.Fatal(err)
			}
			if !j.Configuration.DryRun { // a dry run changes nothing
				out = append(out, jobSummary(&j))
			}
		}
	}
	return out
}

// jobSummary is "<kind> <source> -> <destination>" for a copy job and
// "query -> <destination>" for a query job.
func jobSummary(j *bq.Job) string {
	name := func(r *bq.TableReference) string {
		if r == nil {
			return "<none>"
		}
		return r.ProjectId + "." + r.DatasetId + "." + r.TableId
	}
	switch c := j.Configuration; {
	case c.Copy != nil:
		kind := "copy"
		if c.Copy.OperationType != "" {
			kind = strings.ToLower(c.Copy.OperationType)
		}
		var srcs []string
		for _, s := range c.Copy.SourceTables {
			srcs = append(srcs, name(s))
		}
		return kind + " " + strings.Join(srcs, ",") + " -> " + name(c.Copy.DestinationTable)
	case c.Query != nil:
		return "query -> " + name(c.Query.DestinationTable)
	}
	return "job"
}

// jsonEqual compares a request body with want (a JSON document).
func jsonEqual(t *testing.T, what string, body []byte, want string) {
	t.Helper()
	var got, exp any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%s: body %s: %v", what, body, err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("%s: want %s: %v", what, want, err)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("%s:\n got %s\nwant %s", what, body, want)
	}
}

// iamRequest returns the one request of op (getIamPolicy, setIamPolicy) on ref.
func (e *contractEnv) iamRequest(t *testing.T, op string, ref warehouse.TableRef) bqfake.Request {
	t.Helper()
	path := "/projects/" + ref.Project + "/datasets/" + ref.Dataset + "/tables/" + ref.Table + ":" + strings.TrimPrefix(op, "tables.")
	var found []bqfake.Request
	for _, r := range e.fake.RequestsFor(op) {
		if r.Path == path {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s requests on %s, want 1", len(found), op, ref)
	}
	return found[0]
}

// mirrored is the policy staging and the backup must get: production's
// table bindings plus the dataset's access entries turned into bindings
// (reference §5.4; the specialGroup entry is not mirrored).
const mirrored = `[
	{"role": "roles/bigquery.dataEditor", "members": ["serviceAccount:loader@moz-fx-data-shared-prod.iam.gserviceaccount.com"]},
	{"role": "roles/bigquery.dataOwner", "members": ["group:data-owners@example.com"]},
	{"role": "roles/bigquery.dataViewer", "members": ["group:restricted-readers@example.com", "group:workgroup-restricted@example.com", "user:alice@example.com"]}
]`

// checkSetPolicy checks a setIamPolicy request: the mirrored bindings,
// written with an etag (a compare-and-swap on the policy that was read).
func checkSetPolicy(t *testing.T, what string, r bqfake.Request) {
	t.Helper()
	var body struct {
		Policy struct {
			Bindings json.RawMessage `json:"bindings"`
			Etag     string          `json:"etag"`
			Version  int             `json:"version"`
		} `json:"policy"`
	}
	if err := r.Decode(&body); err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, what+" bindings", body.Policy.Bindings, mirrored)
	if body.Policy.Etag == "" || body.Policy.Version != 1 {
		t.Errorf("%s: etag %q version %d, want the etag read and version 1", what, body.Policy.Etag, body.Policy.Version)
	}
}

func partitionRows(ids ...string) map[string]int64 {
	out := map[string]int64{}
	for _, id := range ids {
		out[id] = 2
	}
	return out
}

// TestContractDependsOnPast drives a depends_on_past backfill of a
// workgroup-restricted table from Initiate to Complete and checks what
// BigQuery is asked to do at each step.
func TestContractDependsOnPast(t *testing.T) {
	e := newContractEnv(t)
	id := pipeline.BackfillID(table, entryDate)
	expiry := fmt.Sprint(now.Add(30 * 24 * time.Hour).UnixMilli())
	stagingPath := "/projects/" + prodProject + "/datasets/" + staging.Dataset + "/tables/" + staging.Table
	backupPath := "/projects/" + prodProject + "/datasets/" + backup.Dataset + "/tables/" + backup.Table

	// Start: staging like production, its permissions, the seed.
	if got, want := e.scan(t, "Initiate"), []string{"started " + id}; !slices.Equal(got, want) {
		t.Fatalf("scan did %q, want %q", got, want)
	}
	if got, want := e.writes(t), []string{
		"tables.insert /projects/" + prodProject + "/datasets/" + staging.Dataset + "/tables",
		"tables.setIamPolicy " + stagingPath + ":setIamPolicy",
		"copy " + table.String() + "$" + seed + " -> " + staging.String() + "$" + seed,
	}; !slices.Equal(got, want) {
		t.Errorf("start wrote\n got %q\nwant %q", got, want)
	}
	ins := e.fake.RequestsFor("tables.insert")
	jsonEqual(t, "staging table", ins[0].Body, `{
		"tableReference": {"projectId": "moz-fx-data-shared-prod", "datasetId": "backfills_staging_derived", "tableId": "`+staging.Table+`"},
		"schema": {"fields": [
			{"name": "submission_date", "type": "DATE"}, {"name": "country", "type": "STRING"},
			{"name": "visits", "type": "INTEGER"}, {"name": "total", "type": "INTEGER"}]},
		"timePartitioning": {"type": "DAY", "field": "submission_date"},
		"expirationTime": "`+expiry+`",
		"labels": {"owner": "test", "bqbackfill_table": "special_derived__running_visits_v1", "bqbackfill_entry": "2024-03-20"}
	}`)
	for _, ref := range []warehouse.TableRef{table, staging} {
		jsonEqual(t, "getIamPolicy of "+ref.String(), e.iamRequest(t, "tables.getIamPolicy", ref).Body, `{"options": {"requestedPolicyVersion": 3}}`)
	}
	checkSetPolicy(t, "staging's policy", e.iamRequest(t, "tables.setIamPolicy", staging))
	jobs := e.insertedJobs(t)
	if len(jobs) != 1 {
		t.Fatalf("%d jobs at start, want the seed copy only", len(jobs))
	}
	seedJob := jobs[0]
	if c := seedJob.Configuration.Copy; c == nil || c.WriteDisposition != "WRITE_TRUNCATE" || c.CreateDisposition != "CREATE_NEVER" || c.OperationType != "" {
		t.Errorf("seed copy configuration %+v, want a plain COPY, WRITE_TRUNCATE into the existing staging", c)
	}
	if p := seedJob.JobReference.ProjectId; p != billingProject {
		t.Errorf("seed copy runs in %s, want the billing project %s", p, billingProject)
	}
	if got := e.fake.PartitionRows(staging); !reflect.DeepEqual(got, partitionRows(seed)) {
		t.Errorf("staging rows after start %v, want the seeded partition %v", got, partitionRows(seed))
	}
	if got := e.lau.launches; !slices.Equal(got, []string{id + " 1"}) {
		t.Errorf("launches %q, want one worker for the chain", got)
	}

	// Workers: one partition at a time, each published after the one before
	// it is done, each query reading staging instead of production.
	e.fake.ResetRequests()
	if got := e.work(t); !slices.Equal(got, days) {
		t.Errorf("partitions handled %q, want %q (one at a time, in order)", got, days)
	}
	if ok, err := e.p.Finish(e.ctx, id); err != nil || !ok {
		t.Fatalf("Finish = %v, %v; want the backfill processed", ok, err)
	}
	var queries []*bq.Job
	for _, j := range e.insertedJobs(t) {
		if j.Configuration.Query != nil {
			queries = append(queries, j)
		}
	}
	if len(queries) != len(days) {
		t.Fatalf("%d query jobs, want %d", len(queries), len(days))
	}
	for i, j := range queries {
		day := days[i]
		iso := day[:4] + "-" + day[4:6] + "-" + day[6:]
		q := j.Configuration.Query
		if q.Query != rewrittenSQL {
			t.Errorf("query of %s:\n%s\nwant\n%s", day, q.Query, rewrittenSQL)
		}
		if got, want := jobSummary(j), "query -> "+staging.String()+"$"+day; got != want {
			t.Errorf("query %d: %s, want %s", i, got, want)
		}
		if q.WriteDisposition != "WRITE_TRUNCATE" || q.CreateDisposition != "CREATE_NEVER" || q.UseLegacySql == nil || *q.UseLegacySql {
			t.Errorf("query of %s: write %s create %s legacy %v; want WRITE_TRUNCATE of the partition, CREATE_NEVER, standard SQL", day, q.WriteDisposition, q.CreateDisposition, q.UseLegacySql)
		}
		params, _ := json.Marshal(q.QueryParameters)
		jsonEqual(t, "parameters of "+day, params, `[{"name": "submission_date", "parameterType": {"type": "DATE"}, "parameterValue": {"value": "`+iso+`"}}]`)
		if d := q.DefaultDataset; d == nil || d.ProjectId != prodProject || d.DatasetId != table.Dataset {
			t.Errorf("query of %s: default dataset %+v, want the table's own %s.%s", day, d, prodProject, table.Dataset)
		}
		if p := j.JobReference.ProjectId; p != billingProject {
			t.Errorf("query of %s runs in %s, want the billing project %s", day, p, billingProject)
		}
		if want := "bqbackfill_special_derived__running_visits_v1_2024_03_20_" + day + "-"; !strings.HasPrefix(j.JobReference.JobId, want) {
			t.Errorf("query of %s has job id %s, want the prefix %s", day, j.JobReference.JobId, want)
		}
	}
	if got, want := e.fake.PartitionRows(staging), partitionRows(append([]string{seed}, days...)...); !reflect.DeepEqual(got, want) {
		t.Errorf("staging rows %v, want %v", got, want)
	}
	if b, err := e.led.Get(e.ctx, id); err != nil || b.State != ledger.StateProcessed {
		t.Fatalf("ledger: %+v, %v; want processed", b, err)
	}

	// Completion: clone production, give the backup the permissions, copy
	// each partition, delete staging.
	if got, want := e.scan(t, "Complete"), []string{"completion-requested " + id}; !slices.Equal(got, want) {
		t.Fatalf("scan did %q, want %q", got, want)
	}
	if got := e.pub.take("complete"); len(got) != 1 {
		t.Fatalf("%d completion requests published, want 1", len(got))
	}
	e.fake.ResetRequests()
	if err := e.p.Complete(e.ctx, id); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	got := e.writes(t)
	want := []string{
		"clone " + table.String() + " -> " + backup.String(),
		"tables.patch " + backupPath,
		"tables.setIamPolicy " + backupPath + ":setIamPolicy",
	}
	var swaps []string
	for _, d := range days {
		swaps = append(swaps, "copy "+staging.String()+"$"+d+" -> "+table.String()+"$"+d)
	}
	if len(got) != len(want)+len(swaps)+1 || !slices.Equal(got[:len(want)], want) ||
		!slices.Equal(slices.Sorted(slices.Values(got[len(want):len(want)+len(swaps)])), swaps) ||
		got[len(got)-1] != "tables.delete "+stagingPath {
		t.Errorf("completion wrote\n got %q\nwant %q, then %q in any order, then the deletion of staging", got, want, swaps)
	}
	var clone *bq.Job
	var copies []*bq.Job
	for _, j := range e.insertedJobs(t) {
		switch {
		case j.Configuration.Copy != nil && j.Configuration.Copy.OperationType == "CLONE":
			clone = j
		case j.Configuration.Copy != nil:
			copies = append(copies, j)
		}
	}
	if clone == nil || clone.Configuration.Copy.WriteDisposition != "WRITE_EMPTY" || clone.JobReference.ProjectId != prodProject {
		t.Errorf("backup job %+v, want a CLONE with WRITE_EMPTY in the backup's project", clone)
	}
	jsonEqual(t, "backup expiration", e.fake.RequestsFor("tables.patch")[0].Body, `{
		"expirationTime": "`+expiry+`",
		"labels": {"bqbackfill_table": "special_derived__running_visits_v1", "bqbackfill_entry": "2024-03-20"}
	}`)
	jsonEqual(t, "getIamPolicy of the backup", e.iamRequest(t, "tables.getIamPolicy", backup).Body, `{"options": {"requestedPolicyVersion": 3}}`)
	checkSetPolicy(t, "the backup's policy", e.iamRequest(t, "tables.setIamPolicy", backup))
	for _, j := range copies {
		c := j.Configuration.Copy
		if c.WriteDisposition != "WRITE_TRUNCATE" || c.CreateDisposition != "CREATE_NEVER" || j.JobReference.ProjectId != billingProject {
			t.Errorf("%s: write %s create %s in %s; want WRITE_TRUNCATE of one existing partition, billed to %s",
				jobSummary(j), c.WriteDisposition, c.CreateDisposition, j.JobReference.ProjectId, billingProject)
		}
	}
	if b, err := e.led.Get(e.ctx, id); err != nil || b.State != ledger.StateCompleted {
		t.Fatalf("ledger: %+v, %v; want completed", b, err)
	}
	if e.fake.Table(staging) != nil {
		t.Errorf("staging still exists")
	}
	if bt := e.fake.Table(backup); bt == nil || fmt.Sprint(bt.ExpirationTime) != expiry {
		t.Errorf("backup %+v, want it to expire at %s", bt, expiry)
	}
	if got, want := e.fake.PartitionRows(backup), partitionRows(append([]string{"20240316", seed}, days...)...); !reflect.DeepEqual(got, want) {
		t.Errorf("backup rows %v, want production's %v", got, want)
	}
}

// TestContractMirrorFailure: when writing staging's permissions fails,
// staging is deleted (no staging without its permissions) and the start
// is retried by a later scan, which creates it again.
func TestContractMirrorFailure(t *testing.T) {
	e := newContractEnv(t)
	id := pipeline.BackfillID(table, entryDate)
	stagingPath := "/projects/" + prodProject + "/datasets/" + staging.Dataset + "/tables/" + staging.Table
	e.fake.InjectFault(bqfake.Fault{Op: "tables.setIamPolicy", Resource: staging.Table, Status: 403, Reason: "accessDenied", Message: "Access Denied: setIamPolicy", Times: 1})

	desired, _ := treescan.Desired(e.ctx, tree("Initiate"), treescan.Options{Now: now})
	actions := e.p.Scan(e.ctx, desired)
	if len(actions) != 1 || actions[0].Err == nil || !strings.Contains(actions[0].Err.Error(), "staging deleted") {
		t.Fatalf("actions %+v, want the start to fail with staging deleted", actions)
	}
	if got, want := e.writes(t), []string{
		"tables.insert /projects/" + prodProject + "/datasets/" + staging.Dataset + "/tables",
		"tables.setIamPolicy " + stagingPath + ":setIamPolicy",
		"tables.delete " + stagingPath,
	}; !slices.Equal(got, want) {
		t.Errorf("failed start wrote\n got %q\nwant %q (no seed, no query)", got, want)
	}
	if e.fake.Table(staging) != nil {
		t.Errorf("staging exists without its permissions")
	}
	if got := e.pub.take("partitions"); len(got) != 0 {
		t.Errorf("%d partition messages published by a failed start", len(got))
	}

	// The next scan (once the start is stale) starts over and succeeds.
	e.fake.ResetRequests()
	e.p.Options.StaleAfter = -1
	if got, want := e.scan(t, "Initiate"), []string{"resumed " + id}; !slices.Equal(got, want) {
		t.Fatalf("scan did %q, want %q", got, want)
	}
	checkSetPolicy(t, "staging's policy", e.iamRequest(t, "tables.setIamPolicy", staging))
	if b, err := e.led.Get(e.ctx, id); err != nil || b.State != ledger.StateProcessing {
		t.Fatalf("ledger: %+v, %v; want processing", b, err)
	}
	if got := e.fake.PartitionRows(staging); !reflect.DeepEqual(got, partitionRows(seed)) {
		t.Errorf("staging rows %v, want the seeded partition", got)
	}
}
