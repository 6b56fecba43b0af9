package terraform_test

// The IAM check: from what each component's code does (the resources its
// environment names, the Google Cloud clients it builds, the BigQuery calls
// of its pipeline steps) the test derives the permissions it needs on which
// resource, and checks that the grants terraform makes give exactly those:
// every need covered, no grant that serves no need, and no basic role.

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
	"github.com/bqbackfill/bqbackfill/shared/iamcheck"
)

// forbiddenRoles may not be granted to anyone.
var forbiddenRoles = []string{"roles/owner", "roles/editor", "roles/viewer"}

// grant is one IAM member resource instance.
type grant struct {
	addr   string
	kind   string // project, bucket, topic, subscription, job, service, serviceAccount, dataset, secret
	target string
	role   string
	member string
}

// grantKinds says, per IAM member resource type, what the grant is on.
var grantKinds = map[string]struct {
	kind   string
	target func(b *tfBlock) (string, error)
}{
	"google_project_iam_member":               {"project", attrOf("project")},
	"google_storage_bucket_iam_member":        {"bucket", attrOf("bucket")},
	"google_pubsub_topic_iam_member":          {"topic", func(b *tfBlock) (string, error) { s, err := b.str("topic"); return topicName(s), err }},
	"google_pubsub_subscription_iam_member":   {"subscription", attrOf("subscription")},
	"google_cloud_run_v2_job_iam_member":      {"job", attrOf("name")},
	"google_cloud_run_v2_service_iam_member":  {"service", attrOf("name")},
	"google_service_account_iam_member":       {"serviceAccount", func(b *tfBlock) (string, error) { s, err := b.str("service_account_id"); return accountAddr(s), err }},
	"google_secret_manager_secret_iam_member": {"secret", attrOf("secret_id")},
	"google_bigquery_dataset_access": {"dataset", func(b *tfBlock) (string, error) {
		p, err := b.str("project")
		if err != nil {
			return "", err
		}
		d, err := b.str("dataset_id")
		return p + "." + d, err
	}},
}

// accessMember is the IAM member of a dataset access entry.
func accessMember(b *tfBlock) (string, error) {
	if email, err := b.str("user_by_email"); err != nil || email != "" {
		if strings.HasSuffix(email, ".gserviceaccount.com") || strings.HasPrefix(email, "${google_service_account.") {
			return "serviceAccount:" + email, err
		}
		return "user:" + email, err
	}
	if g, err := b.str("group_by_email"); err != nil || g != "" {
		return "group:" + g, err
	}
	return b.str("iam_member")
}

func attrOf(name string) func(b *tfBlock) (string, error) {
	return func(b *tfBlock) (string, error) { return b.str(name) }
}

// accountAddr reduces a reference to a service account resource (its email,
// name, id or member) to the resource's address.
func accountAddr(ref string) string {
	ref = strings.TrimPrefix(ref, "serviceAccount:")
	if addr, attr, ok := refersTo(ref); ok && (attr == "email" || attr == "name" || attr == "id" || attr == "member") {
		return addr
	}
	return ref
}

func grants(t *testing.T, e *environment) []grant {
	t.Helper()
	var out []grant
	for _, typ := range sortedKeys(e.insts) {
		switch {
		case strings.HasPrefix(typ, "google_bigquery_dataset_iam_"):
			t.Errorf("%s rewrites the dataset's access list and drops its authorized views; grant with google_bigquery_dataset_access", typ)
			continue
		case strings.HasSuffix(typ, "_iam_binding"), strings.HasSuffix(typ, "_iam_policy"):
			t.Errorf("%s is authoritative: it would remove grants made outside terraform; use the _iam_member resource", typ)
			continue
		case !strings.HasSuffix(typ, "_iam_member") && typ != "google_bigquery_dataset_access":
			continue
		}
		k, ok := grantKinds[typ]
		if !ok {
			t.Errorf("the test does not know what %s grants on: add it to grantKinds", typ)
			continue
		}
		for _, i := range e.insts[typ] {
			b := i.root()
			target, err := k.target(b)
			if err != nil {
				t.Fatal(err)
			}
			role, err := b.str("role")
			if err != nil {
				t.Fatal(err)
			}
			var member string
			if typ == "google_bigquery_dataset_access" {
				member, err = accessMember(b)
			} else {
				member, err = b.str("member")
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, grant{addr: i.addr, kind: k.kind, target: target, role: role, member: member})
		}
	}
	return out
}

// permissions of a role: predefined (iamcheck.Roles, the table the
// deployment twin enforces, with BigQuery's basic dataset roles) or a
// custom role terraform defines (its permissions argument). A role that is
// neither fails the test: add it to iamcheck.Roles from Google's docs
// rather than guess.
func permissions(t *testing.T, e *environment, role string) []string {
	t.Helper()
	if p, ok := iamcheck.Permissions(role); ok {
		return p
	}
	if addr, attr, ok := refersTo(role); ok && (attr == "name" || attr == "id") {
		if i := e.byAddr(addr); i != nil && i.res.typ == "google_project_iam_custom_role" {
			p, err := i.root().strings("permissions")
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	t.Errorf("role %q is neither in iamcheck.Roles nor a custom role terraform defines", role)
	return nil
}

// need is a permission set some identity must hold on one resource.
type need struct {
	who    string // member
	whoIs  string // for messages
	why    string
	kind   string
	target string
	perms  []string
}

// covers says whether g is on n's resource, or on the project of n's
// dataset.
func covers(g grant, n need) bool {
	if g.kind == n.kind && g.target == n.target {
		return true
	}
	return g.kind == "project" && n.kind == "dataset" && strings.HasPrefix(n.target, g.target+".")
}

var (
	pubsubAgentRE = regexp.MustCompile(`^serviceAccount:service-.+@gcp-sa-pubsub\.iam\.gserviceaccount\.com$`)
	gcsAgentRE    = regexp.MustCompile(`^serviceAccount:\$\{data\.google_storage_project_service_account\.[a-z_]+\.email_address\}$`)
)

// needs derives, for one environment, what every identity must be able to
// do.
func needs(t *testing.T, e *environment, g *goFacts, cs []*component, gs []grant) []need {
	t.Helper()
	var out []need
	add := func(who, whoIs, why, kind, target string, perms ...string) {
		out = append(out, need{who: who, whoIs: whoIs, why: why, kind: kind, target: target, perms: perms})
	}
	staging := e.rootOutput(t, "staging_dataset").AsString()
	stagingProject := staging[:strings.LastIndex(staging, ".")]
	production := e.rootStrings(t, "production_datasets")
	billing := e.rootStrings(t, "billing_projects")
	sources := e.rootStrings(t, "source_projects")

	workerSA := ""
	for _, c := range cs {
		if c.name == "worker" {
			workerSA = accountAddr(c.member)
		}
	}

	for _, c := range cs {
		reads := g.componentEnv(c.dir)
		val := func(name string) string { return c.env[name].value }
		// Resources named by the variables the component reads.
		for _, name := range sortedKeys(reads) {
			switch name {
			case cloudenv.VarSQLBucket:
				add(c.member, c.name, "reads the synced tree", "bucket", val(name), "storage.objects.get", "storage.objects.list")
			case cloudenv.VarLedgerBucket:
				add(c.member, c.name, "reads and writes ledger records", "bucket", val(name), "storage.objects.create", "storage.objects.delete", "storage.objects.get", "storage.objects.list")
			case cloudenv.VarPartitionsTopic, cloudenv.VarCompleteTopic, cloudenv.VarEventsTopic, cloudenv.VarDeadLetterTopic:
				add(c.member, c.name, "publishes to "+name, "topic", val(name), "pubsub.topics.publish")
			case cloudenv.VarPartitionsSubscription:
				add(c.member, c.name, "pulls partition messages", "subscription", val(name), "pubsub.subscriptions.consume")
			case cloudenv.VarWorkerJob:
				job := val(name)[strings.LastIndex(val(name), "/")+1:]
				add(c.member, c.name, "starts worker executions with a task-count override", "job", job, "run.jobs.runWithOverrides")
				add(c.member, c.name, "reads the job's latest execution (Launcher.Running)", "job", job, "run.jobs.get")
				add(c.member, c.name, "starts executions that run as the worker", "serviceAccount", workerSA, "iam.serviceAccounts.actAs")
			}
		}
		for _, name := range sortedKeys(c.env) {
			if s := c.env[name].secret; s != "" {
				add(c.member, c.name, "reads secret env "+name, "secret", s, "secretmanager.versions.access")
			}
		}
		if !g.usesCloud[c.dir] {
			continue
		}
		// The BigQuery warehouse runs INFORMATION_SCHEMA lookups in its
		// default project (BQBACKFILL_PROJECT) and queries and copies in the
		// entry's billing project.
		add(c.member, c.name, "runs BigQuery jobs in its default project", "project", val(cloudenv.VarProject), "bigquery.jobs.create")
		for _, p := range billing {
			add(c.member, c.name, "runs BigQuery jobs billed to "+p, "project", p, "bigquery.jobs.create")
		}
		switch c.name {
		case "scanner":
			// shared/pipeline start: CreateTableLike, Copy (seed), TableIAM,
			// DatasetAccess, SetTableIAM; a failed start deletes staging.
			add(c.member, c.name, "creates, seeds and shares staging tables", "dataset", staging,
				"bigquery.datasets.get", "bigquery.tables.create", "bigquery.tables.delete", "bigquery.tables.get",
				"bigquery.tables.getIamPolicy", "bigquery.tables.setIamPolicy", "bigquery.tables.updateData")
			for _, d := range production {
				add(c.member, c.name, "reads production's schema, IAM and seed partition", "dataset", d,
					"bigquery.datasets.get", "bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.getIamPolicy")
			}
			for _, p := range sources {
				add(c.member, c.name, "dry-runs the partition queries for the cost estimate (reads what they read)", "project", p, "bigquery.tables.getData")
			}
		case "worker":
			// shared/pipeline worker: Query into staging$partition; the done
			// report counts production's partitions.
			add(c.member, c.name, "writes staging partitions", "dataset", staging,
				"bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.updateData")
			for _, d := range production {
				add(c.member, c.name, "counts production partitions for the report", "dataset", d, "bigquery.tables.get", "bigquery.tables.list")
			}
			for _, p := range sources {
				add(c.member, c.name, "queries read upstream tables", "project", p, "bigquery.tables.getData")
			}
		case "completion":
			// shared/pipeline complete: Backup (clone into staging, in the
			// staging project), Copy staging -> production, Delete staging.
			add(c.member, c.name, "backs up production into the staging dataset", "project", stagingProject, "bigquery.jobs.create")
			// The backup gets production's permissions mirrored onto it
			// (TableIAM + SetTableIAM, issue 9 F1).
			add(c.member, c.name, "creates backups, shares them and deletes staging", "dataset", staging,
				"bigquery.tables.create", "bigquery.tables.delete", "bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.update",
				"bigquery.tables.getIamPolicy", "bigquery.tables.setIamPolicy")
			for _, d := range production {
				add(c.member, c.name, "copies staged partitions into production and reads its permissions", "dataset", d,
					"bigquery.datasets.get", "bigquery.tables.get", "bigquery.tables.getData", "bigquery.tables.getIamPolicy", "bigquery.tables.updateData")
			}
		default:
			t.Errorf("%s builds the Google Cloud stack, but the test has no model of its BigQuery calls", c.dir)
		}
	}

	// Callers of the functions, and the service agents.
	pubsubAgent, gcsAgent := "", ""
	for _, gr := range gs {
		if pubsubAgentRE.MatchString(gr.member) {
			pubsubAgent = gr.member
		}
		if gcsAgentRE.MatchString(gr.member) {
			gcsAgent = gr.member
		}
	}
	if pubsubAgent == "" {
		pubsubAgent = "the Pub/Sub service agent"
	}
	if gcsAgent == "" {
		gcsAgent = "the Cloud Storage service agent"
	}
	service := map[string]string{} // service address -> name
	for _, c := range cs {
		if c.target != "" {
			service[c.inst.addr], _ = c.inst.root().str("name")
		}
	}
	for _, s := range e.insts["google_pubsub_subscription"] {
		name, _ := s.root().str("name")
		if dl, _ := s.root().block("dead_letter_policy"); dl != nil {
			topic, _ := dl.str("dead_letter_topic")
			if addr, _, ok := refersTo(topic); ok {
				if i := e.byAddr(addr); i != nil {
					topic, _ = i.root().str("name")
				}
			}
			add(pubsubAgent, "Pub/Sub service agent", "forwards dead letters of "+name, "topic", topicName(topic), "pubsub.topics.publish")
			add(pubsubAgent, "Pub/Sub service agent", "acknowledges what it dead-letters from "+name, "subscription", name, "pubsub.subscriptions.consume")
		}
		push, _ := s.root().block("push_config")
		if push == nil {
			continue
		}
		oidc, _ := push.block("oidc_token")
		if oidc == nil {
			continue
		}
		sa, _ := oidc.str("service_account_email")
		ep, _ := push.str("push_endpoint")
		if addr, _, ok := refersTo(ep[:strings.Index(ep+"}", "}")+1]); ok && service[addr] != "" {
			add("serviceAccount:"+sa, "push identity", "pushes "+name+" to "+service[addr], "service", service[addr], "run.routes.invoke")
		}
		add(pubsubAgent, "Pub/Sub service agent", "signs the OIDC tokens of "+name, "serviceAccount", accountAddr(sa), "iam.serviceAccounts.getOpenIdToken")
	}
	for _, tr := range e.insts["google_eventarc_trigger"] {
		sa, _ := tr.root().str("service_account")
		dest, _ := tr.root().block("destination", "cloud_run_service")
		svc, _ := dest.str("service")
		project, _ := tr.root().str("project")
		add("serviceAccount:"+sa, "Eventarc identity", "receives events for "+tr.addr, "project", project, "eventarc.events.receiveEvent")
		add("serviceAccount:"+sa, "Eventarc identity", "delivers "+tr.addr+" to "+svc, "service", svc, "run.routes.invoke")
		add(gcsAgent, "Cloud Storage service agent", "publishes object events for "+tr.addr, "project", project, "pubsub.topics.publish")
		add(pubsubAgent, "Pub/Sub service agent", "signs the OIDC tokens of "+tr.addr+"'s push subscription", "serviceAccount", accountAddr(sa), "iam.serviceAccounts.getOpenIdToken")
	}
	return out
}

func TestIAM(t *testing.T) {
	forEachEnvironment(t, func(t *testing.T, e *environment, g *goFacts, cs []*component) {
		gs := grants(t, e)
		for _, gr := range gs {
			if slices.Contains(forbiddenRoles, gr.role) {
				t.Errorf("%s grants %s to %s: basic roles are not allowed", gr.addr, gr.role, gr.member)
			}
		}
		ns := needs(t, e, g, cs, gs)

		t.Run("every call is allowed", func(t *testing.T) {
			for _, n := range ns {
				held := map[string]bool{}
				for _, gr := range gs {
					if gr.member == n.who && covers(gr, n) {
						for _, p := range permissions(t, e, gr.role) {
							held[p] = true
						}
					}
				}
				var missing []string
				for _, p := range n.perms {
					if !held[p] {
						missing = append(missing, p)
					}
				}
				if len(missing) > 0 {
					t.Errorf("%s %s, which needs %s on %s %q; terraform grants it none that includes them",
						n.whoIs, n.why, strings.Join(missing, ", "), n.kind, n.target)
				}
			}
		})

		t.Run("every grant is used", func(t *testing.T) {
			modelled := map[string]bool{}
			for _, n := range ns {
				modelled[n.who] = true
			}
			for _, gr := range gs {
				if !modelled[gr.member] {
					if strings.Contains(gr.member, "${google_service_account.") {
						t.Errorf("%s grants %s to %s, a service account no component or caller uses", gr.addr, gr.role, gr.member)
					}
					continue
				}
				perms := permissions(t, e, gr.role)
				used := false
				for _, n := range ns {
					if n.who == gr.member && covers(gr, n) && overlaps(perms, n.perms) {
						used = true
					}
				}
				if !used {
					t.Errorf("%s grants %s on %s %q to %s, but none of its calls needs it", gr.addr, gr.role, gr.kind, gr.target, gr.member)
				}
			}
		})

		// Where an identity only reads, it gets no role that writes. (Where
		// it writes at all, the narrowest predefined role may write a little
		// more than it uses: dataEditor can also delete tables.)
		t.Run("read-only where only reads are needed", func(t *testing.T) {
			for _, gr := range gs {
				var needed []string
				for _, n := range ns {
					if n.who == gr.member && covers(gr, n) {
						needed = append(needed, n.perms...)
					}
				}
				if len(needed) == 0 || slices.ContainsFunc(needed, isWrite) {
					continue
				}
				var writes []string
				for _, p := range permissions(t, e, gr.role) {
					if isWrite(p) {
						writes = append(writes, p)
					}
				}
				if len(writes) > 0 {
					t.Errorf("%s grants %s on %s %q to %s, which only reads there; the role also allows %s",
						gr.addr, gr.role, gr.kind, gr.target, gr.member, strings.Join(writes, ", "))
				}
			}
		})

		t.Run("one service account per component", func(t *testing.T) {
			seen := map[string]string{}
			for _, c := range cs {
				sa := accountAddr(c.member)
				if !strings.HasPrefix(sa, "google_service_account.") {
					t.Errorf("%s runs as %q, not a service account terraform creates", c.inst.addr, c.member)
				}
				if prev, ok := seen[sa]; ok {
					t.Errorf("%s and %s share the service account %s", prev, c.name, sa)
				}
				seen[sa] = c.name
			}
		})
	})
}

// isWrite says whether a permission changes data, metadata, IAM or what
// runs. bigquery.tables.createSnapshot and restoreSnapshot are not: they
// are checked on the source table, which they only read (the write needs
// tables.create on the destination); run.jobs.run granted on a service
// applies to no job.
func isWrite(p string) bool {
	verb := p[strings.LastIndex(p, ".")+1:]
	return slices.Contains([]string{"create", "delete", "update", "updateData", "setIamPolicy", "publish", "runWithOverrides", "actAs",
		"deleteSnapshot", "updateTag", "setCategory"}, verb)
}

func overlaps(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// TestNoBasicRoles looks at every role argument in every file, so a basic
// role cannot hide in a resource type the IAM model does not read.
func TestNoBasicRoles(t *testing.T) {
	cfg := loadConfig(t)
	var found []string
	for _, dir := range sortedKeys(cfg.mods) {
		moduleExprs(cfg.mods[dir], func(e hcl.Expression, _ map[string]bool) {
			v, diags := e.Value(nil)
			if diags.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type().FriendlyName() != "string" {
				return
			}
			if slices.Contains(forbiddenRoles, v.AsString()) {
				found = append(found, fmt.Sprintf("%s: %s", e.Range(), v.AsString()))
			}
		})
	}
	sort.Strings(found)
	for _, f := range found {
		t.Errorf("basic role granted at %s", f)
	}
}
