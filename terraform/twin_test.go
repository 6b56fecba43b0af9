package terraform_test

// The deployment twin (issue 9): the grants terraform makes in the prod
// environment, applied to the BigQuery fake with permissions enforced
// (shared/warehouse/bqfake EnforceIAM) and to the Cloud Storage, Pub/Sub
// and Cloud Run calls (shared/iamcheck wrapping fake-gcs-server, pstest and
// a Cloud Run jobs fake), and the whole pipeline run with each component
// as its own service account, assembled as production assembles it
// (gcp.Assemble): the operator syncs the tree, the scanner starts (staging
// like production, IAM mirrored, depends_on_past seed) and launches the
// worker job, rescans while the workers run (jobs.get), the worker pulls
// and runs the partitions, the completion backs up, mirrors IAM onto the
// backup and swaps, and the operator reads the status and rolls back (the
// operator's grants are the ones docs/deploy.md documents). Deliveries to
// the functions (Eventarc's manifest event, the scheduler tick's and the
// completion request's push) are checked against what their callers need
// (iam_test's needs). Removing one grant a step needs makes the twin fail
// at that step with a message naming the permission. Not modelled:
// groups, IAM conditions, object ACLs, the notifier, Pub/Sub's own
// dead-lettering.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"cloud.google.com/go/civil"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	run "cloud.google.com/go/run/apiv2"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	bq "google.golang.org/api/bigquery/v2"
	"google.golang.org/api/option"

	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
	"github.com/bqbackfill/bqbackfill/shared/gcp"
	"github.com/bqbackfill/bqbackfill/shared/handlers"
	"github.com/bqbackfill/bqbackfill/shared/iamcheck"
	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/queue"
	"github.com/bqbackfill/bqbackfill/shared/runjob/runjobtest"
	"github.com/bqbackfill/bqbackfill/shared/treestore"
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
	twinUnlisted = warehouse.TableRef{Project: "moz-fx-data-unlisted", Dataset: "unlisted_derived", Table: "twin_v1"}
	// A dataset of a source project missing from production_datasets: the
	// scanner and worker may read it (source_projects), the completion may
	// not write it.
	twinUnwritable = warehouse.TableRef{Project: twinProd, Dataset: "unlisted_derived", Table: "twin_v1"}
	twinSource     = warehouse.TableRef{Project: twinProd, Dataset: "telemetry_live", Table: "events_v1"}
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

// twinOperator is the human or CI identity that runs bqbackfill against the
// deployment (sync, status, retry, rollback); its grants are read from
// docs/deploy.md.
const twinOperator = "user:operator@example.com"

// syncBuffer collects the components' warnings and errors.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// take returns what was logged since the last take.
func (b *syncBuffer) take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.b.String()
	b.b.Reset()
	return strings.TrimSpace(s)
}

// twin is one run of the fake deployment.
type twin struct {
	t       *testing.T
	ctx     context.Context
	fake    *bqfake.Server
	jobs    *runjobtest.Jobs
	admin   *pubsub.Client // the test's own, unchecked view
	led     *ledger.Store  // the test's own, unchecked view of the ledger
	env     cloudenv.Env   // resource names (the scanner's environment)
	errLogs *syncBuffer
	stacks  map[string]*gcp.Stack // scanner, worker, completion, operator
	policy  *iamcheck.Policy
	// deliveries are what each delivery to a function needs: "eventarc"
	// (the manifest's finalize event to the scanner), "push:SERVICE" (a
	// push subscription's request to a function), from iam_test's needs.
	deliveries map[string][]need
}

// deniedRE finds a denied call in the logs, in any service's wording.
var deniedRE = regexp.MustCompile(`PermissionDenied|accessDenied|AccessDenied|Permission '[a-z]`)

// twinResource is the iamcheck resource name of a terraform grant's target.
func twinResource(g grant, env cloudenv.Env) string {
	switch g.kind {
	case "project":
		return iamcheck.Project(g.target)
	case "bucket":
		return iamcheck.Bucket(g.target)
	case "topic":
		return "projects/" + env.Project + "/topics/" + g.target
	case "subscription":
		return "projects/" + env.Project + "/subscriptions/" + g.target
	case "job":
		return env.WorkerJob[:strings.LastIndex(env.WorkerJob, "/")+1] + g.target
	case "service":
		return env.WorkerJob[:strings.Index(env.WorkerJob, "/jobs/")] + "/services/" + g.target
	}
	return g.kind + "/" + g.target
}

// newTwin builds the fakes with the given grants applied and one stack
// per component, each as its own service account, and one for the
// operator.
func newTwin(t *testing.T, e *environment, cs []*component, gs []grant) *twin {
	t.Helper()
	ctx := context.Background()
	fake := bqfake.New()
	t.Cleanup(fake.Close)
	fake.SetClock(func() time.Time { return twinNow })

	// Production: the table with its dataset's and its own permissions, the
	// upstream table, the public copy, a dataset without grants.
	prodFields := []*bq.TableFieldSchema{bqfake.Column("submission_date", "DATE"), bqfake.Column("n", "INTEGER")}
	for _, ref := range []warehouse.TableRef{twinTable, twinPublic, twinUnlisted, twinUnwritable, twinSource} {
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
		{Role: "roles/bigquery.dataViewer", Members: []string{"group:addons-readers@example.com"}},
		{Role: "roles/bigquery.metadataViewer", Members: []string{"allAuthenticatedUsers"}},
	}}); err != nil {
		t.Fatal(err)
	}
	staging := e.rootOutput(t, "staging_dataset").AsString()
	sp, sd, _ := strings.Cut(staging, ".")
	fake.AddDataset(sp, sd)

	envs := map[string]cloudenv.Env{}
	lookups := map[string]func(string) (string, bool){}
	members := map[string]string{twinOperator: "operator"}
	for _, c := range cs {
		if c.name == "notifier" {
			continue
		}
		lookups[c.name] = func(name string) (string, bool) { v, ok := c.env[name]; return v.value, ok }
		env, err := cloudenv.FromEnv(lookups[c.name], nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		envs[c.name] = env
		members[c.member] = c.name
	}
	for _, name := range []string{"scanner", "worker", "completion"} {
		if _, ok := envs[name]; !ok {
			t.Fatalf("terraform deploys no %s", name)
		}
	}
	// The operator's CLI reads the same names from its environment.
	envs["operator"], lookups["operator"] = envs["scanner"], lookups["scanner"]
	env := envs["scanner"]
	policy := &iamcheck.Policy{}
	policy.SetParent(iamcheck.Bucket(env.LedgerBucket), iamcheck.Project(env.Project))
	policy.SetParent(iamcheck.Bucket(env.SQLBucket), iamcheck.Project(env.Project))
	access := map[string][]*bq.DatasetAccess{}
	for _, g := range gs {
		role := g.role
		if _, predefined := iamcheck.Permissions(role); !predefined {
			fake.DefineRole(role, permissions(t, e, role))
			policy.DefineRole(role, permissions(t, e, role))
		}
		switch g.kind {
		case "dataset":
			access[g.target] = append(access[g.target], &bq.DatasetAccess{Role: role, IamMember: g.member})
			continue
		case "project":
			fake.GrantProject(g.target, g.role, g.member)
		}
		policy.Grant(twinResource(g, env), role, g.member)
	}
	for _, ref := range []warehouse.TableRef{twinTable, twinPublic, twinUnlisted, twinUnwritable, twinSource} {
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

	// Cloud Storage: the sync and ledger buckets.
	gcs, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gcs.Stop)
	for _, b := range []string{env.LedgerBucket, env.SQLBucket} {
		gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: b})
	}

	// Pub/Sub: the topics and the worker's subscription, and the test's
	// own subscriptions standing for the completion's push subscription
	// and the notifier's.
	ps := pstest.NewServer()
	t.Cleanup(func() { ps.Close() })
	admin, err := iamcheck.PubSub(ctx, ps.Addr, env.Project, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	topic := func(name string) string { return "projects/" + env.Project + "/topics/" + name }
	subs := map[string]string{envs["worker"].PartitionsSubscription: env.PartitionsTopic, "twin-complete": env.CompleteTopic, "twin-events": env.EventsTopic,
		"twin-dead-letters": envs["worker"].DeadLetterTopic}
	for _, name := range []string{env.PartitionsTopic, env.CompleteTopic, env.EventsTopic, envs["worker"].DeadLetterTopic} {
		if _, err := admin.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic(name)}); err != nil {
			t.Fatal(err)
		}
	}
	for sub, top := range subs {
		if _, err := admin.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
			Name: "projects/" + env.Project + "/subscriptions/" + sub, Topic: topic(top), AckDeadlineSeconds: 60, EnableMessageOrdering: true,
		}); err != nil {
			t.Fatal(err)
		}
	}

	// Cloud Run: the worker job.
	jobs := &runjobtest.Jobs{Now: func() time.Time { return twinNow }}
	jobsAddr, stop, err := runjobtest.Serve(jobs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)

	led, err := iamcheck.Storage(ctx, gcs.HTTPClient().Transport, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close() })
	tw := &twin{t: t, ctx: ctx, fake: fake, jobs: jobs, admin: admin, led: ledger.New(led, env.LedgerBucket), env: env,
		errLogs: &syncBuffer{}, stacks: map[string]*gcp.Stack{}, policy: policy, deliveries: deliveries(t, e, cs, gs)}
	for member, name := range members {
		email := strings.TrimPrefix(strings.TrimPrefix(member, "serviceAccount:"), "user:")
		e := envs[name]
		w, err := bqw.NewWithConfig(ctx, bqw.Config{
			Project:     e.Project,
			Retry:       bqw.RetryPolicy{Attempts: 1},
			CallTimeout: 30 * time.Second,
			Sleep:       func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
		}, fake.ClientOptionsAs(email)...)
		if err != nil {
			t.Fatal(err)
		}
		st, err := iamcheck.Storage(ctx, gcs.HTTPClient().Transport, policy, email)
		if err != nil {
			t.Fatal(err)
		}
		psc, err := iamcheck.PubSub(ctx, ps.Addr, e.Project, policy, email)
		if err != nil {
			t.Fatal(err)
		}
		// As deployed: the scanner launches workers (functions/scanner),
		// the worker may run scripts (jobs/worker), the CLI builds a
		// launcher when the worker job is named (cmd/bqbackfill).
		opts := gcp.Options{Launcher: name == "scanner" || name == "operator" && e.WorkerJob != "", Scripts: name == "worker"}
		clients := gcp.Clients{Storage: st, PubSub: psc, Warehouse: w}
		if opts.Launcher {
			conn, err := iamcheck.Conn(jobsAddr, policy, email)
			if err != nil {
				t.Fatal(err)
			}
			if clients.Jobs, err = run.NewJobsClient(ctx, option.WithGRPCConn(conn)); err != nil {
				t.Fatal(err)
			}
		}
		stack, err := gcp.Assemble(e, lookups[name], slog.New(slog.NewTextHandler(tw.errLogs, &slog.HandlerOptions{Level: slog.LevelWarn})).With("component", name), opts, clients)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stack.Close)
		p := stack.Pipeline
		p.Now = func() time.Time { return twinNow }
		p.Options = pipeline.Options{Retry: pipeline.Retry{Attempts: 1, Initial: time.Millisecond, Max: time.Millisecond}}
		// Pacing spaces jobs in wall time; the twin checks permissions.
		p.Pacer = nil
		tw.stacks[name] = stack
	}
	return tw
}

// twinFacts are the Go facts iam_test derives needs from, read once.
var twinFacts struct {
	once sync.Once
	g    *goFacts
}

// deliveries groups iam_test's needs of the callers of the functions by
// delivery: Eventarc's manifest event, and each push subscription.
func deliveries(t *testing.T, e *environment, cs []*component, gs []grant) map[string][]need {
	t.Helper()
	twinFacts.once.Do(func() { twinFacts.g = loadGoFacts(t) })
	ns := needs(t, e, twinFacts.g, cs, gs)
	out := map[string][]need{}
	pushes := map[string]string{} // subscription -> service
	for _, n := range ns {
		if n.whoIs == "push identity" {
			sub, _, _ := strings.Cut(strings.TrimPrefix(n.why, "pushes "), " to ")
			pushes[sub] = n.target
			out["push:"+n.target] = append(out["push:"+n.target], n)
		}
	}
	for _, n := range ns {
		switch {
		case n.whoIs == "Eventarc identity", n.whoIs == "Cloud Storage service agent",
			n.whoIs == "Pub/Sub service agent" && strings.Contains(n.why, "google_eventarc_trigger"):
			out["eventarc"] = append(out["eventarc"], n)
		case n.whoIs == "Pub/Sub service agent" && strings.HasPrefix(n.why, "signs the OIDC tokens of "):
			if svc := pushes[strings.TrimPrefix(n.why, "signs the OIDC tokens of ")]; svc != "" {
				out["push:"+svc] = append(out["push:"+svc], n)
			}
		}
	}
	return out
}

// deliver checks that a delivery may reach its function: every caller in
// the chain (Cloud Storage's and Pub/Sub's agents, the Eventarc or push
// identity) holds what it needs. Cloud Run answers an unauthorised request
// "403 Forbidden" without saying what to grant, and a missing agent grant
// only means no event; the error says who lacks which permission.
func (tw *twin) deliver(kind string) error {
	ns := tw.deliveries[kind]
	if len(ns) == 0 {
		return fmt.Errorf("terraform sets up no %s delivery", kind)
	}
	for _, n := range ns {
		for _, perm := range n.perms {
			who := n.who[strings.Index(n.who, ":")+1:]
			if tw.policy.Allowed(who, perm, twinResource(grant{kind: n.kind, target: n.target}, tw.env)) {
				continue
			}
			answer := "the event is never delivered"
			if perm == "run.routes.invoke" {
				answer = "Cloud Run answers 403 Forbidden: Your client does not have permission to get URL / from this server"
			}
			return fmt.Errorf("%s delivery: %s: the %s (%s, which %s) lacks %s on %s %s", kind, answer, n.whoIs, n.who, n.why, perm, n.kind, n.target)
		}
	}
	return nil
}

// sync uploads the tree as the operator, as `bqbackfill sync` does.
func (tw *twin) sync(tree fstest.MapFS) error {
	dir := tw.t.TempDir()
	for name, f := range tree {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			return err
		}
	}
	_, err := treestore.Sync(tw.ctx, tw.stacks["operator"].Storage, tw.env.SQLBucket, dir, "twin", twinNow)
	return err
}

// scan runs the scanner's handler over the synced tree; errors are
// returned, not fatal.
func (tw *twin) scan() error {
	sc := tw.stacks["scanner"]
	h := handlers.NewScanner(sc.Pipeline, sc.Trees, slog.New(slog.NewTextHandler(tw.errLogs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	h.Now = func() time.Time { return twinNow }
	actions, err := h.Scan(tw.ctx)
	if err != nil {
		return fmt.Errorf("scanner: %w", err)
	}
	var errs []string
	for _, a := range actions {
		if a.Err != nil {
			errs = append(errs, a.Err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("scanner: %s", strings.Join(errs, "; "))
	}
	return nil
}

// syncAndScan is the operator's sync of an entry's new status, then the
// scan its manifest's finalize event triggers (through Eventarc).
func (tw *twin) syncAndScan(tree fstest.MapFS) (step string, err error) {
	if err := tw.sync(tree); err != nil {
		return "sync", fmt.Errorf("operator: sync: %w", err)
	}
	if err := tw.deliver("eventarc"); err != nil {
		return "", err
	}
	return "", tw.scan()
}

// tick is the scheduler's tick, pushed to the scanner.
func (tw *twin) tick() error {
	if err := tw.deliver("push:" + tw.service("scanner")); err != nil {
		return err
	}
	return tw.scan()
}

// service is the Cloud Run service of a function component, as the push
// deliveries name it.
func (tw *twin) service(component string) string {
	for kind := range tw.deliveries {
		if strings.HasPrefix(kind, "push:") && strings.Contains(kind, component) {
			return strings.TrimPrefix(kind, "push:")
		}
	}
	tw.t.Fatalf("no push subscription delivers to the %s", component)
	return ""
}

// work runs a worker task (pipeline.RunTask, as jobs/worker does): it
// pulls the subscription until it stays empty, then finishes the
// backfills it touched. The first message the worker gives back ends the
// task (Pub/Sub would withhold it for the retry backoff, longer than a
// task waits idle), and with it the execution.
func (tw *twin) work() error {
	w := tw.stacks["worker"]
	defer tw.jobs.Finish()
	recv := &stopOnNack{sub: queue.Subscription{Client: w.PubSub, Name: w.Env.PartitionsSubscription,
		Options: queue.ReceiveOptions{ReturnImmediately: true, IdleTimeout: 100 * time.Millisecond}}}
	if _, err := w.Pipeline.RunTask(tw.ctx, recv); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	return recv.gaveBack
}

// stopOnNack receives from sub until the handler gives a message back.
type stopOnNack struct {
	sub      queue.Subscription
	gaveBack error
}

func (r *stopOnNack) Receive(ctx context.Context, h queue.Handler) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	return r.sub.Receive(ctx, func(ctx context.Context, m queue.Received) queue.Outcome {
		out := h(ctx, m)
		if out != queue.Ack {
			r.gaveBack = fmt.Errorf("worker: gave back partition %s", m.Attributes["partition"])
			cancel()
		}
		return out
	})
}

// pull takes what the test's own subscription received.
func (tw *twin) pull(sub string) []string {
	name := "projects/" + tw.env.Project + "/subscriptions/" + sub
	var out []string
	for {
		resp, err := tw.admin.SubscriptionAdminClient.Pull(tw.ctx, &pubsubpb.PullRequest{Subscription: name, MaxMessages: 100, ReturnImmediately: true})
		if err != nil {
			tw.t.Fatal(err)
		}
		if len(resp.ReceivedMessages) == 0 {
			return out
		}
		var ids []string
		for _, m := range resp.ReceivedMessages {
			out = append(out, string(m.GetMessage().GetData()))
			ids = append(ids, m.AckId)
		}
		if err := tw.admin.SubscriptionAdminClient.Acknowledge(tw.ctx, &pubsubpb.AcknowledgeRequest{Subscription: name, AckIds: ids}); err != nil {
			tw.t.Fatal(err)
		}
	}
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
func (tw *twin) events() []string { return tw.pull("twin-events") }

// status reads the table's backfills as `bqbackfill status TABLE` does,
// as the operator.
func (tw *twin) status(table warehouse.TableRef) error {
	led := ledger.New(tw.stacks["operator"].Storage, tw.env.LedgerBucket)
	all, err := led.ListTable(tw.ctx, table.String())
	if err != nil {
		return fmt.Errorf("operator: status: %w", err)
	}
	for _, b := range all {
		sum, err := led.PartitionSummary(tw.ctx, b.ID)
		if err != nil {
			return fmt.Errorf("operator: status: %w", err)
		}
		if _, err := led.ReadPartitions(tw.ctx, b.ID, sum.Warned); err != nil {
			return fmt.Errorf("operator: status: %w", err)
		}
	}
	return nil
}

// outcome is a step's failure: its error, or an error or a denied call
// the components logged meanwhile (a best-effort call, such as an event
// or the cost estimate, fails only in the log), with their warnings.
func (tw *twin) outcome(step string, err error) (string, string) {
	logs := tw.errLogs.take()
	switch {
	case err != nil && logs != "":
		return step, err.Error() + "\nlogged: " + logs
	case err != nil:
		return step, err.Error()
	case strings.Contains(logs, "level=ERROR"), deniedRE.MatchString(logs):
		return step, "logged: " + logs
	}
	return "", ""
}

// run drives one backfill of table from Initiate to a rollback and returns
// the first step that failed, with what it said ("" when all went well).
func (tw *twin) run(table warehouse.TableRef, public bool) (step, msg string) {
	if step, msg := tw.outcome("sync", tw.sync(twinTree(table, "Initiate", public))); step != "" {
		return step, msg
	}
	if err := tw.deliver("eventarc"); err != nil {
		return tw.outcome("start", err)
	}
	if step, msg := tw.outcome("start", tw.scan()); step != "" {
		return step, msg
	}
	if st := tw.state(table); st != ledger.StateProcessing && st != ledger.StateProcessed {
		return "start", fmt.Sprintf("state %s: %s", st, tw.failure(table))
	}
	// The first partition's query fails once with a transient error: the
	// worker gives its message back and the execution's tasks exit.
	tw.fake.FailJobs(bqfake.JobFault{Type: "QUERY", Table: "$20240318", Reason: "backendError", Message: "Backend error (injected)", Times: 1})
	if err := tw.work(); err == nil || !strings.Contains(tw.failure(table), "(injected)") {
		return tw.outcome("partitions", fmt.Errorf("the first partition's transient failure was not given back and recorded (%v): %s", err, tw.failure(table)))
	}
	if step, msg := tw.outcome("partitions", nil); step != "" {
		return step, msg
	}
	// A scheduler tick: a partition waits and no execution runs (jobs.get),
	// so the scanner launches one (F5).
	if step, msg := tw.outcome("watch", tw.tick()); step != "" {
		return step, msg
	}
	if n := len(tw.jobs.Requests()); n != 2 {
		return "watch", fmt.Sprintf("%d worker executions, want 2 (one at the start, one for the given-back partition)", n)
	}
	if err := tw.work(); err != nil {
		return tw.outcome("partitions", fmt.Errorf("%w: %s", err, tw.failure(table)))
	}
	if step, msg := tw.outcome("partitions", tw.tick()); step != "" {
		return step, msg
	}
	if st := tw.state(table); st != ledger.StateProcessed {
		return "partitions", fmt.Sprintf("state %s: %s", st, tw.failure(table))
	}
	if _, err := tw.syncAndScan(twinTree(table, "Complete", public)); err != nil {
		return tw.outcome("complete request", err)
	}
	if step, msg := tw.outcome("complete request", nil); step != "" {
		return step, msg
	}
	if got := tw.pull("twin-complete"); len(got) != 1 {
		return "complete request", fmt.Sprintf("%d completion requests", len(got))
	}
	if err := tw.deliver("push:" + tw.service("completion")); err != nil {
		return tw.outcome("complete", err)
	}
	if err := tw.stacks["completion"].Pipeline.Complete(tw.ctx, pipeline.BackfillID(table, twinEntry)); err != nil {
		return tw.outcome("complete", err)
	}
	if step, msg := tw.outcome("complete", nil); step != "" {
		return step, msg
	}
	if st := tw.state(table); st != ledger.StateCompleted {
		return "complete", fmt.Sprintf("state %s: %s", st, tw.failure(table))
	}
	if step, msg := tw.outcome("status", tw.status(table)); step != "" {
		return step, msg
	}
	if _, _, err := tw.stacks["operator"].Pipeline.Rollback(tw.ctx, table); err != nil {
		return tw.outcome("rollback", fmt.Errorf("operator: rollback: %w", err))
	}
	return tw.outcome("rollback", nil)
}

// twinSetup reads the prod environment: its components, terraform's
// grants and the operator's grants docs/deploy.md documents.
func twinSetup(t *testing.T) (*environment, []*component, []grant) {
	t.Helper()
	cfg := loadConfig(t)
	e := loadEnvironment(t, cfg, "prod")
	g := loadGoFacts(t)
	cs := components(t, e, g)
	for _, c := range cs {
		if c.name != "scanner" {
			continue
		}
		env, err := cloudenv.FromEnv(func(name string) (string, bool) { v, ok := c.env[name]; return v.value, ok }, nil)
		if err != nil {
			t.Fatal(err)
		}
		return e, cs, append(grants(t, e), operatorGrants(t, e, env)...)
	}
	t.Fatal("terraform deploys no scanner")
	return nil, nil, nil
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
// clearly, and tells the watchers; it does not loop (F3). In a source
// project, which the scanner and the worker may read, it runs and fails
// at the completion, as clearly (docs/first-apply.md).
func TestTwinDatasetWithoutGrants(t *testing.T) {
	e, cs, gs := twinSetup(t)
	for _, tc := range []struct {
		table      warehouse.TableRef
		step, perm string
	}{
		{twinUnlisted, "start", "bigquery.tables.get"},
		{twinUnwritable, "complete", "bigquery.tables.get"},
	} {
		t.Run(tc.table.String(), func(t *testing.T) {
			tw := newTwin(t, e, cs, gs)
			step, msg := tw.run(tc.table, false)
			if step != tc.step {
				t.Fatalf("failed at %q (%s), want at %s", step, msg, tc.step)
			}
			if st := tw.state(tc.table); st != ledger.StateFailed {
				t.Fatalf("state %s, want failed (not left to be retried every scan)", st)
			}
			if f := tw.failure(tc.table); !strings.Contains(f, tc.perm) {
				t.Errorf("the failure %q does not name the missing permission %s", f, tc.perm)
			}
			if ev := strings.Join(tw.events(), "\n"); !strings.Contains(ev, tc.perm) {
				t.Errorf("the watchers were not told which permission is missing: %q", ev)
			}
		})
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
		`google_bigquery_dataset_access.worker_reads_production["moz-fx-data-shared-prod.addons_derived"]`:  "the done report's production row counts (and worker_reads_sources covers the dataset's project)",
		`google_bigquery_dataset_access.scanner_reads_production["moz-fx-data-shared-prod.addons_derived"]`: "reads of production, which scanner_reads_sources also covers where the dataset is in a source project (all of prod's are; a production dataset elsewhere needs it)",
		`google_project_iam_member.scanner_job_user["bqbackfill-prod"]`:                                     "INFORMATION_SCHEMA lookups in the default project",
		`google_project_iam_member.worker_job_user["bqbackfill-prod"]`:                                      "INFORMATION_SCHEMA lookups in the default project",
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

// Removing any one Cloud Storage, Pub/Sub, Cloud Run, Eventarc or IAM
// grant a step needs (terraform's, or the operator's from docs/deploy.md)
// makes the twin fail at that step with a message naming the permission;
// deliveries to the functions (Eventarc, push) are checked with iam_test's
// needs of their callers. Grants for what the twin does not run are listed
// with the reason; a grant in neither list fails the test.
func TestTwinMissingServiceGrant(t *testing.T) {
	e, cs, gs := twinSetup(t)
	operator := func(cmd, on string) func(grant) bool {
		return func(g grant) bool {
			return g.member == twinOperator && strings.Contains(g.addr, "`"+cmd+"`") && strings.HasSuffix(g.addr, " on "+on)
		}
	}
	addr := func(a string) func(grant) bool { return func(g grant) bool { return g.addr == a } }
	// The operator's ledger grants that write (status's read-only one
	// stays): every command that writes the ledger holds one.
	ledgerWrites := func(g grant) bool {
		return g.member == twinOperator && strings.HasSuffix(g.addr, " on ledger bucket") && iamcheck.RoleHas(g.role, "storage.objects.create", nil)
	}
	cases := []struct {
		name   string
		remove func(grant) bool
		flow   string // "backfill" (run), "retry" (retryFlow) or "confirm" (confirmFlow)
		step   string
		perm   string
	}{
		{"google_storage_bucket_iam_member.scanner_reads_sql", nil, "backfill", "start", "storage.objects.get"},
		{"google_storage_bucket_iam_member.scanner_ledger", nil, "backfill", "start", "storage.objects.get"},
		{"google_pubsub_topic_iam_member.scanner_publishes_partitions", nil, "backfill", "start", "pubsub.topics.publish"},
		{"google_pubsub_topic_iam_member.scanner_publishes_events", nil, "backfill", "start", "pubsub.topics.publish"},
		{"google_cloud_run_v2_job_iam_member.scanner_runs_worker", nil, "backfill", "start", "run.jobs.run"},
		{"google_cloud_run_v2_job_iam_member.scanner_reads_worker", nil, "backfill", "watch", "run.jobs.get"},
		{"google_pubsub_topic_iam_member.scanner_publishes_complete", nil, "backfill", "complete request", "pubsub.topics.publish"},
		{"google_pubsub_subscription_iam_member.worker_pulls_partitions", nil, "backfill", "partitions", "pubsub.subscriptions.consume"},
		{"google_storage_bucket_iam_member.worker_ledger", nil, "backfill", "partitions", "storage.objects.get"},
		{"google_pubsub_topic_iam_member.worker_publishes_partitions", nil, "backfill", "partitions", "pubsub.topics.publish"},
		{"google_pubsub_topic_iam_member.worker_publishes_events", nil, "backfill", "partitions", "pubsub.topics.publish"},
		{"google_pubsub_topic_iam_member.worker_publishes_dead_letters", nil, "retry", "partitions", "pubsub.topics.publish"},
		{"google_storage_bucket_iam_member.completion_ledger", nil, "backfill", "complete", "storage.objects.get"},
		{"google_pubsub_topic_iam_member.completion_publishes_events", nil, "backfill", "complete", "pubsub.topics.publish"},
		{`module.scanner.google_cloud_run_v2_service_iam_member.invokers["eventarc"]`, nil, "backfill", "start", "run.routes.invoke"},
		{"google_project_iam_member.eventarc_receiver", nil, "backfill", "start", "eventarc.events.receiveEvent"},
		{"google_project_iam_member.gcs_agent_publisher", nil, "backfill", "start", "pubsub.topics.publish"},
		{"google_service_account_iam_member.pubsub_agent_signs_eventarc_tokens", nil, "backfill", "start", "iam.serviceAccounts.getOpenIdToken"},
		{`module.scanner.google_cloud_run_v2_service_iam_member.invokers["push"]`, nil, "backfill", "watch", "run.routes.invoke"},
		{"google_service_account_iam_member.pubsub_agent_signs_push_tokens", nil, "backfill", "watch", "iam.serviceAccounts.getOpenIdToken"},
		{`module.completion.google_cloud_run_v2_service_iam_member.invokers["push"]`, nil, "backfill", "complete", "run.routes.invoke"},
		{"operator sync: sync bucket", operator("sync", "sync bucket"), "backfill", "sync", "storage.objects.create"},
		{"operator: every ledger bucket grant", func(g grant) bool { return g.member == twinOperator && strings.HasSuffix(g.addr, " on ledger bucket") }, "backfill", "status", "storage.objects.list"},
		{"operator rollback: ledger bucket", ledgerWrites, "backfill", "rollback", "storage.objects.create"},
		// confirm-empty holds the same grant: both go.
		{"operator rollback: events topic", func(g grant) bool { return g.member == twinOperator && strings.HasSuffix(g.addr, " on events topic") }, "backfill", "rollback", "pubsub.topics.publish"},
		{"operator retry: ledger bucket", ledgerWrites, "retry", "retry", "storage.objects.create"},
		{"operator retry: partitions topic", operator("retry", "partitions topic"), "retry", "retry", "pubsub.topics.publish"},
		{"operator retry: worker job", operator("retry", "worker job"), "retry", "retry", "run.jobs.run"},
		{"operator confirm-empty: complete topic", operator("confirm-empty", "complete topic"), "confirm", "confirm-empty", "pubsub.topics.publish"},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.name] = true
		if tc.remove == nil {
			tc.remove = addr(tc.name)
		}
		var rest []grant
		for _, g := range gs {
			if !tc.remove(g) {
				rest = append(rest, g)
			}
		}
		if len(rest) == len(gs) {
			t.Errorf("%s: no such grant", tc.name)
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			tw := newTwin(t, e, cs, rest)
			var step, msg string
			switch tc.flow {
			case "retry":
				step, msg = tw.retryFlow()
			case "confirm":
				step, msg = tw.confirmFlow()
			default:
				step, msg = tw.run(twinTable, false)
			}
			if step != tc.step || !strings.Contains(msg, tc.perm) {
				t.Fatalf("without it the twin fails at %q, want at %q naming %s: %s", step, tc.step, tc.perm, msg)
			}
			t.Logf("fails at %s: %s", step, firstLine(msg))
		})
	}
	// Every grant of these services to a component or the operator is in
	// the table above or here.
	notExercised := map[string]string{
		"google_storage_bucket_iam_member.worker_reads_sql":                         "query.py scripts read the synced tree (shared/pipeline/script.go); the twin's table has query.sql",
		"google_service_account_iam_member.scanner_acts_as_worker":                  "Cloud Run checks actAs when a job is deployed with an account, not on RunJob (docs/first-apply.md, kept)",
		"google_secret_manager_secret_iam_member.notifier_slack_token":              "the notifier is not part of the twin",
		`module.notifier.google_cloud_run_v2_service_iam_member.invokers["push"]`:   "the notifier is not part of the twin",
		"module.pubsub.google_pubsub_subscription_iam_member.agent_acks_partitions": "Pub/Sub dead-letters a message after max deliveries; in the twin the worker dead-letters it itself first",
		"module.pubsub.google_pubsub_topic_iam_member.agent_publishes_dead_letters": "Pub/Sub dead-letters a message after max deliveries; in the twin the worker dead-letters it itself first",
	}
	for _, g := range gs {
		if g.kind == "dataset" || g.kind == "project" && strings.HasPrefix(g.role, "roles/bigquery.") || g.member == twinOperator {
			continue // BigQuery (TestTwinMissingGrant), the operator (above)
		}
		if why, ok := notExercised[g.addr]; ok {
			t.Logf("%s: not exercised: %s", g.addr, why)
			continue
		}
		if !covered[g.addr] {
			t.Errorf("%s (%s on %s %s) is neither tested here nor listed as not exercised", g.addr, g.role, g.kind, g.target)
		}
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
	if step, msg := tw.retryFlow(); step != "" {
		t.Fatalf("fails at %s: %s", step, msg)
	}
	if st := tw.state(twinTable); st != ledger.StateProcessed {
		t.Fatalf("after retry: state %s (%s), want processed", st, tw.failure(twinTable))
	}
}

// retryFlow starts a backfill whose partition 20240319 fails for good
// (the worker dead-letters it), then the operator retries it and it runs.
// It returns the first step that failed, as run does.
func (tw *twin) retryFlow() (step, msg string) {
	tw.fake.FailJobs(bqfake.JobFault{Type: "QUERY", Table: "$20240319", Reason: "invalidQuery", Message: "Syntax error (injected)", Times: 1})
	if step, err := tw.syncAndScan(twinTree(twinTable, "Initiate", false)); err != nil {
		return tw.outcome(step+"start", err)
	}
	if step, msg := tw.outcome("start", nil); step != "" {
		return step, msg
	}
	// The failure is expected; only a denied call (the dead letter, say)
	// fails the step.
	work := tw.work()
	if logs := tw.errLogs.take(); deniedRE.MatchString(logs) {
		return "partitions", fmt.Sprintf("a call of the worker's was denied (%v)\nlogged: %s", work, logs)
	}
	if err := tw.tick(); err != nil {
		return tw.outcome("partitions", err)
	}
	tw.errLogs.take()
	if st := tw.state(twinTable); st != ledger.StateFailed {
		return "partitions", fmt.Sprintf("state %s, want failed: %s", st, tw.failure(twinTable))
	}
	if got := tw.pull("twin-dead-letters"); len(got) != 1 {
		return "partitions", fmt.Sprintf("%d dead letters, want 1", len(got))
	}
	if _, n, err := tw.stacks["operator"].Pipeline.Retry(tw.ctx, twinTable); err != nil || n == 0 {
		return tw.outcome("retry", fmt.Errorf("operator: retry: %d partitions, %v", n, err))
	}
	if step, msg := tw.outcome("retry", nil); step != "" {
		return step, msg
	}
	if err := tw.work(); err != nil {
		return tw.outcome("partitions after retry", err)
	}
	return tw.outcome("partitions after retry", tw.tick())
}

// operatorGrants are the grants docs/deploy.md tells the operator of the
// CLI to hold: the rows of its table under "The operator", whose "on"
// column names a resource of the deployment.
func operatorGrants(t *testing.T, e *environment, env cloudenv.Env) []grant {
	t.Helper()
	raw, err := os.ReadFile("../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), operatorHeading)
	if !ok {
		t.Fatalf("docs/deploy.md has no section %q", operatorHeading)
	}
	staging := e.rootOutput(t, "staging_dataset").AsString()
	var out []grant
	for i, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "#") {
			break
		}
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) != 3 || strings.HasPrefix(strings.TrimSpace(cells[0]), "-") || strings.TrimSpace(cells[0]) == "command" {
			continue
		}
		cmd, on := strings.TrimSpace(cells[0]), strings.TrimSpace(cells[1])
		role := strings.Trim(strings.Fields(strings.TrimSpace(cells[2]))[0], "`")
		add := func(kind, target string) {
			out = append(out, grant{addr: fmt.Sprintf("docs/deploy.md operator %s: %s on %s", cmd, role, on), kind: kind, target: target, role: role, member: twinOperator})
		}
		switch on {
		case "sync bucket":
			add("bucket", env.SQLBucket)
		case "ledger bucket":
			add("bucket", env.LedgerBucket)
		case "partitions topic":
			add("topic", env.PartitionsTopic)
		case "events topic":
			add("topic", env.EventsTopic)
		case "complete topic":
			add("topic", env.CompleteTopic)
		case "worker job":
			add("job", env.WorkerJob[strings.LastIndex(env.WorkerJob, "/")+1:])
		case "staging dataset":
			add("dataset", staging)
		case "production datasets":
			for _, d := range e.rootStrings(t, "production_datasets") {
				add("dataset", d)
			}
		case "deployment project":
			add("project", env.Project)
		case "billing projects":
			for _, p := range e.rootStrings(t, "billing_projects") {
				add("project", p)
			}
		default:
			t.Fatalf("docs/deploy.md, operator table line %d: %q is not a resource the twin knows", i, on)
		}
	}
	if len(out) == 0 {
		t.Fatalf("docs/deploy.md section %q lists no grants", operatorHeading)
	}
	return out
}

const operatorHeading = "## 8. The operator"

// A completion refused because a staging partition the worker wrote rows
// for is empty (staging_lost) is confirmed by the operator (confirm-empty,
// run against the deployment with the grants of docs/deploy.md): the
// completion is requested again and empties that production partition.
func TestTwinConfirmEmpty(t *testing.T) {
	e, cs, gs := twinSetup(t)
	tw := newTwin(t, e, cs, gs)
	if step, msg := tw.confirmFlow(); step != "" {
		t.Fatalf("fails at %s: %s", step, msg)
	}
	if st := tw.state(twinTable); st != ledger.StateCompleted {
		t.Fatalf("after confirm-empty: state %s (%s), want completed", st, tw.failure(twinTable))
	}
	if n, ok := tw.fake.PartitionRows(twinTable)[lostPartition]; ok && n != 0 {
		t.Errorf("production partition %s has %d rows after the confirmed completion, want none", lostPartition, n)
	}
}

// lostPartition is the staging partition confirmFlow empties.
const lostPartition = "20240319"

// confirmFlow runs a backfill to processed, empties its staging partition
// lostPartition, has the completion refuse it (staging_lost), then the
// operator confirms it (confirm-empty) and the completion runs. It returns
// the first step that failed, as run does.
func (tw *twin) confirmFlow() (step, msg string) {
	if step, err := tw.syncAndScan(twinTree(twinTable, "Initiate", false)); err != nil {
		return tw.outcome(step+"start", err)
	}
	if err := tw.work(); err != nil {
		return tw.outcome("partitions", err)
	}
	if step, msg := tw.outcome("partitions", tw.tick()); step != "" {
		return step, msg
	}
	id := pipeline.BackfillID(twinTable, twinEntry)
	bf, err := ledger.New(tw.stacks["operator"].Storage, tw.env.LedgerBucket).Get(tw.ctx, id)
	if err != nil || bf.State != ledger.StateProcessed {
		return "partitions", fmt.Sprintf("want processed: %v %s", err, tw.failure(twinTable))
	}
	stg, err := warehouse.ParseTableRef(bf.Staging)
	if err != nil {
		return "partitions", err.Error()
	}
	if err := tw.fake.SetPartitionRows(stg, lostPartition, 0); err != nil {
		return "partitions", err.Error()
	}
	if tw.fake.PartitionRows(twinTable)[lostPartition] == 0 {
		return "partitions", "production has no rows in " + lostPartition + ": emptying it would prove nothing"
	}
	if _, err := tw.syncAndScan(twinTree(twinTable, "Complete", false)); err != nil {
		return tw.outcome("complete request", err)
	}
	tw.pull("twin-complete")
	// The refusal is expected.
	tw.stacks["completion"].Pipeline.Complete(tw.ctx, id)
	tw.errLogs.take()
	if st := tw.state(twinTable); st != ledger.StateFailed {
		return "complete", fmt.Sprintf("state %s, want failed (staging_lost): %s", st, tw.failure(twinTable))
	}
	if _, _, err := tw.stacks["operator"].Pipeline.ConfirmEmpty(tw.ctx, twinTable); err != nil {
		return tw.outcome("confirm-empty", fmt.Errorf("operator: confirm-empty: %w", err))
	}
	if step, msg := tw.outcome("confirm-empty", nil); step != "" {
		return step, msg
	}
	if got := tw.pull("twin-complete"); len(got) != 1 {
		return "confirm-empty", fmt.Sprintf("%d completion requests, want 1", len(got))
	}
	if err := tw.stacks["completion"].Pipeline.Complete(tw.ctx, id); err != nil {
		return tw.outcome("complete", err)
	}
	return tw.outcome("complete", nil)
}
