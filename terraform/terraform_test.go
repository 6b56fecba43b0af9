package terraform_test

// These tests read terraform/ (every .tf file, each environment's tfvars)
// and the Go source, and check that the deployment is wired to the code:
// each Cloud Run service's FUNCTION_TARGET is a registered function, each
// component gets every environment variable it reads and those name real
// resources, the Pub/Sub, Eventarc and scheduler plumbing delivers what each
// function expects, and every identity has the roles for the calls its code
// makes and no others. They run offline: terraform validate cannot (no
// provider plugins here), so this is the guard.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
)

// environmentNames are the tfvars files under terraform/environments/.
var environmentNames = []string{"dev", "prod"}

// TestEveryFileParses parses every .tf and .tfvars file under terraform/,
// and requires each directory of .tf files to be the root or a module the
// root uses.
func TestEveryFileParses(t *testing.T) {
	cfg := loadConfig(t)
	dirs := map[string]bool{}
	err := filepath.WalkDir(cfg.base, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != cfg.base {
			return filepath.SkipDir
		}
		ext := filepath.Ext(path)
		if d.IsDir() || (ext != ".tf" && ext != ".tfvars") {
			return nil
		}
		rel, _ := filepath.Rel(cfg.base, path)
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if _, diags := hclsyntax.ParseConfig(src, rel, hcl.InitialPos); diags.HasErrors() {
			t.Errorf("%s", diags.Error())
		}
		if ext == ".tf" {
			dirs[filepath.ToSlash(filepath.Dir(rel))] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range sortedKeys(dirs) {
		if cfg.mods[dir] == nil {
			t.Errorf("terraform/%s holds .tf files but no module call uses it", dir)
		}
	}
}

func TestModules(t *testing.T) {
	cfg := loadConfig(t)
	for _, dir := range sortedKeys(cfg.mods) {
		m := cfg.mods[dir]
		t.Run(dir, func(t *testing.T) {
			for _, name := range sortedKeys(m.variables) {
				v := m.variables[name]
				if v.block.Body.Attributes["description"] == nil {
					t.Errorf("%s: variable %s has no description", v.block.DefRange(), name)
				}
				if v.block.Body.Attributes["type"] == nil {
					t.Errorf("%s: variable %s has no type", v.block.DefRange(), name)
				}
				if used := referenced(m, "var", name); !used {
					t.Errorf("%s: variable %s is never used", v.block.DefRange(), name)
				}
			}
			for _, name := range sortedKeys(m.outputs) {
				if m.outputs[name].Body.Attributes["description"] == nil {
					t.Errorf("%s: output %s has no description", m.outputs[name].DefRange(), name)
				}
			}
			for _, name := range sortedKeys(m.locals) {
				if !referenced(m, "local", name) {
					t.Errorf("%s: local.%s is never used", m.locals[name].SrcRange, name)
				}
			}
			for _, p := range undeclaredReferences(m) {
				t.Error(p)
			}
			for _, name := range sortedKeys(m.calls) {
				c := m.calls[name]
				for arg, a := range c.block.Body.Attributes {
					if !metaArguments[arg] && c.module.variables[arg] == nil {
						t.Errorf("%s: module %s sets %s, which %s does not declare", a.SrcRange, name, arg, c.module.dir)
					}
				}
				for vname, v := range c.module.variables {
					if v.def == nil && c.block.Body.Attributes[vname] == nil {
						t.Errorf("%s: module %s does not set required variable %s of %s", c.block.DefRange(), name, vname, c.module.dir)
					}
				}
			}
		})
	}
}

// walkExprs calls fn on every expression of body with the iteration symbols
// in scope (dynamic block iterators).
func walkExprs(body *hclsyntax.Body, iters map[string]bool, fn func(hcl.Expression, map[string]bool)) {
	for _, a := range body.Attributes {
		fn(a.Expr, iters)
	}
	for _, b := range body.Blocks {
		if b.Type != "dynamic" {
			walkExprs(b.Body, iters, fn)
			continue
		}
		name := b.Labels[0]
		if a := b.Body.Attributes["iterator"]; a != nil {
			name = hcl.ExprAsKeyword(a.Expr)
		}
		inner := map[string]bool{name: true}
		for k := range iters {
			inner[k] = true
		}
		for n, a := range b.Body.Attributes {
			if n != "iterator" {
				fn(a.Expr, iters)
			}
		}
		for _, cb := range b.Body.Blocks {
			walkExprs(cb.Body, inner, fn)
		}
	}
}

// moduleExprs calls fn on every expression of the module with the
// iteration symbols its block allows.
func moduleExprs(m *tfModule, fn func(hcl.Expression, map[string]bool)) {
	for _, b := range m.blocks {
		iters := map[string]bool{}
		if b.Body.Attributes["for_each"] != nil {
			iters["each"] = true
		}
		if b.Body.Attributes["count"] != nil {
			iters["count"] = true
		}
		if b.Type == "variable" {
			// type is a type expression, not a value.
			for name, a := range b.Body.Attributes {
				if name != "type" {
					fn(a.Expr, iters)
				}
			}
			for _, vb := range b.Body.Blocks {
				walkExprs(vb.Body, iters, fn)
			}
			continue
		}
		walkExprs(b.Body, iters, fn)
	}
}

func traversalNames(tr hcl.Traversal) []string {
	names := []string{tr.RootName()}
	for _, step := range tr[1:] {
		a, ok := step.(hcl.TraverseAttr)
		if !ok {
			break
		}
		names = append(names, a.Name)
	}
	return names
}

func referenced(m *tfModule, root, name string) bool {
	found := false
	moduleExprs(m, func(e hcl.Expression, _ map[string]bool) {
		for _, tr := range e.Variables() {
			n := traversalNames(tr)
			if n[0] == root && len(n) > 1 && n[1] == name {
				found = true
			}
		}
	})
	return found
}

// undeclaredReferences finds references to undeclared variables, locals,
// module outputs, resources and data sources (what `terraform validate`
// would report first), and iteration symbols used outside their block.
func undeclaredReferences(m *tfModule) []string {
	var problems []string
	moduleExprs(m, func(e hcl.Expression, iters map[string]bool) {
		for _, tr := range e.Variables() {
			n := traversalNames(tr)
			at := tr.SourceRange().String()
			short := func(k int) bool {
				if len(n) < k {
					problems = append(problems, fmt.Sprintf("%s: incomplete reference %s", at, strings.Join(n, ".")))
					return true
				}
				return false
			}
			switch n[0] {
			case "var":
				if !short(2) && m.variables[n[1]] == nil {
					problems = append(problems, fmt.Sprintf("%s: var.%s is not declared in %s", at, n[1], m.dir))
				}
			case "local":
				if !short(2) && m.locals[n[1]] == nil {
					problems = append(problems, fmt.Sprintf("%s: local.%s is not declared in %s", at, n[1], m.dir))
				}
			case "module":
				if short(2) {
					continue
				}
				c := m.calls[n[1]]
				switch {
				case c == nil:
					problems = append(problems, fmt.Sprintf("%s: module.%s is not declared in %s", at, n[1], m.dir))
				case len(n) > 2 && c.module.outputs[n[2]] == nil:
					problems = append(problems, fmt.Sprintf("%s: module.%s has no output %s", at, n[1], n[2]))
				}
			case "data":
				if !short(3) && m.resources["data."+n[1]+"."+n[2]] == nil {
					problems = append(problems, fmt.Sprintf("%s: data.%s.%s is not declared in %s", at, n[1], n[2], m.dir))
				}
			case "each", "count":
				if !iters[n[0]] {
					problems = append(problems, fmt.Sprintf("%s: %s used outside a block with %s", at, n[0], map[string]string{"each": "for_each", "count": "count"}[n[0]]))
				}
			case "path", "terraform", "self":
			default:
				if iters[n[0]] {
					continue
				}
				if !short(2) && m.resources[n[0]+"."+n[1]] == nil {
					problems = append(problems, fmt.Sprintf("%s: %s.%s is not declared in %s", at, n[0], n[1], m.dir))
				}
			}
		}
	})
	sort.Strings(problems)
	return problems
}

func TestVersionsAndBackend(t *testing.T) {
	cfg := loadConfig(t)
	var required, googleVersion, googleSource string
	backend := false
	for _, b := range cfg.root.terraform {
		if a := b.Body.Attributes["required_version"]; a != nil {
			v, _ := a.Expr.Value(nil)
			required = v.AsString()
		}
		for _, nb := range b.Body.Blocks {
			switch nb.Type {
			case "required_providers":
				if a := nb.Body.Attributes["google"]; a != nil {
					v, diags := a.Expr.Value(nil)
					if diags.HasErrors() {
						t.Fatalf("%s: %s", a.SrcRange, diags.Error())
					}
					googleSource = v.GetAttr("source").AsString()
					googleVersion = v.GetAttr("version").AsString()
				}
			case "backend":
				backend = nb.Labels[0] == "gcs"
			}
		}
	}
	for _, tc := range []struct {
		what, got string
		ok        bool
	}{
		{"required_version (want >= 1.5)", required, required == ">= 1.5"},
		{"google provider source", googleSource, googleSource == "hashicorp/google"},
		{"google provider version (want ~> 6.x)", googleVersion, strings.HasPrefix(googleVersion, "~> 6.")},
		{"backend (want gcs, configured at init)", fmt.Sprint(backend), backend},
	} {
		if !tc.ok {
			t.Errorf("terraform block: %s is %q", tc.what, tc.got)
		}
	}
}

// envValue is one environment variable of a container.
type envValue struct {
	value   string // plain value
	secret  string // Secret Manager secret, for value_source.secret_key_ref
	version string
}

// component is a deployed piece of code and what runs it.
type component struct {
	name      string // scanner, completion, notifier, worker
	dir       string // its Go package
	target    string // FUNCTION_TARGET, for functions
	inst      *tfInstance
	container *tfBlock
	env       map[string]envValue
	member    string // IAM member of its service account
	timeout   string
}

func containerEnv(c *tfBlock) (map[string]envValue, error) {
	out := map[string]envValue{}
	envs, err := c.blocks("env")
	if err != nil {
		return nil, err
	}
	for _, b := range envs {
		name, err := b.str("name")
		if err != nil {
			return nil, err
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s: %s is set twice", c.inst.addr, name)
		}
		var ev envValue
		if ev.value, err = b.str("value"); err != nil {
			return nil, err
		}
		ref, err := b.block("value_source", "secret_key_ref")
		if err != nil {
			return nil, err
		}
		if ref != nil {
			if ev.secret, err = ref.str("secret"); err != nil {
				return nil, err
			}
			if ev.version, err = ref.str("version"); err != nil {
				return nil, err
			}
		}
		out[name] = ev
	}
	return out, nil
}

// components finds the function services (by FUNCTION_TARGET) and the
// worker job (by its image) of an environment.
func components(t *testing.T, e *environment, g *goFacts) []*component {
	t.Helper()
	var out []*component
	for _, inst := range e.insts["google_cloud_run_v2_service"] {
		tmpl, err := inst.root().block("template")
		if err != nil || tmpl == nil {
			t.Fatalf("%s: no template: %v", inst.addr, err)
		}
		c, err := tmpl.block("containers")
		if err != nil || c == nil {
			t.Fatalf("%s: want exactly one container: %v", inst.addr, err)
		}
		env, err := containerEnv(c)
		if err != nil {
			t.Fatal(err)
		}
		sa, err := tmpl.str("service_account")
		if err != nil {
			t.Fatal(err)
		}
		timeout, err := tmpl.str("timeout")
		if err != nil {
			t.Fatal(err)
		}
		target := env["FUNCTION_TARGET"].value
		dir := g.entryPoints[target]
		if dir == "" {
			t.Fatalf("%s: FUNCTION_TARGET=%q is not registered with functions.CloudEvent in functions/ (registered: %v)", inst.addr, target, sortedKeys(g.entryPoints))
		}
		out = append(out, &component{name: dir[strings.LastIndex(dir, "/")+1:], dir: dir, target: target, inst: inst, container: c, env: env, member: "serviceAccount:" + sa, timeout: timeout})
	}
	workerImage := e.rootString(t, "worker_image")
	for _, inst := range e.insts["google_cloud_run_v2_job"] {
		tmpl, err := inst.root().block("template", "template")
		if err != nil || tmpl == nil {
			t.Fatalf("%s: no template.template: %v", inst.addr, err)
		}
		c, err := tmpl.block("containers")
		if err != nil || c == nil {
			t.Fatalf("%s: want exactly one container: %v", inst.addr, err)
		}
		image, err := c.str("image")
		if err != nil {
			t.Fatal(err)
		}
		if image != workerImage {
			t.Fatalf("%s runs image %q, not var.worker_image", inst.addr, image)
		}
		env, err := containerEnv(c)
		if err != nil {
			t.Fatal(err)
		}
		sa, err := tmpl.str("service_account")
		if err != nil {
			t.Fatal(err)
		}
		timeout, err := tmpl.str("timeout")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &component{name: "worker", dir: "jobs/worker", inst: inst, container: c, env: env, member: "serviceAccount:" + sa, timeout: timeout})
	}
	return out
}

func componentByName(t *testing.T, cs []*component, name string) *component {
	t.Helper()
	for _, c := range cs {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no %s component deployed", name)
	return nil
}

// forEachEnvironment runs check once per tfvars file.
func forEachEnvironment(t *testing.T, check func(t *testing.T, e *environment, g *goFacts, cs []*component)) {
	g := loadGoFacts(t)
	cfg := loadConfig(t)
	for _, name := range environmentNames {
		t.Run(name, func(t *testing.T) {
			e := loadEnvironment(t, cfg, name)
			check(t, e, g, components(t, e, g))
		})
	}
}

func TestFunctionTargets(t *testing.T) {
	forEachEnvironment(t, func(t *testing.T, e *environment, g *goFacts, cs []*component) {
		functionsImage := e.rootString(t, "functions_image")
		deployed := map[string][]string{}
		for _, c := range cs {
			if c.target == "" {
				continue
			}
			deployed[c.target] = append(deployed[c.target], c.inst.addr)
			image, err := c.container.str("image")
			if err != nil {
				t.Fatal(err)
			}
			if image != functionsImage {
				t.Errorf("%s (FUNCTION_TARGET=%s) runs %q, want the functions image var.functions_image", c.inst.addr, c.target, image)
			}
		}
		for _, name := range sortedKeys(g.entryPoints) {
			if n := len(deployed[name]); n != 1 {
				t.Errorf("function %s (registered in %s) is deployed by %d services %v, want exactly one", name, g.entryPoints[name], n, deployed[name])
			}
		}
	})
}

func TestEnvironmentVariables(t *testing.T) {
	forEachEnvironment(t, func(t *testing.T, e *environment, g *goFacts, cs []*component) {
		known := g.knownEnv()
		server := g.componentEnv("functions/server")
		for _, c := range cs {
			t.Run(c.name, func(t *testing.T) {
				need := g.componentEnv(c.dir)
				if c.target != "" {
					for k, v := range server {
						need[k] = v
					}
					if c.env["FUNCTION_TARGET"].value != c.target {
						t.Errorf("%s: FUNCTION_TARGET is %q", c.inst.addr, c.env["FUNCTION_TARGET"].value)
					}
				}
				for _, name := range sortedKeys(need) {
					ev, ok := c.env[name]
					switch {
					case !ok:
						t.Errorf("%s (%s) reads %s (%s) but terraform does not set it on %s", c.name, c.dir, name, need[name], c.inst.addr)
					case ev.value == "" && ev.secret == "":
						t.Errorf("%s: %s is set to an empty value", c.inst.addr, name)
					}
				}
				for _, name := range sortedKeys(c.env) {
					if name != "FUNCTION_TARGET" && !known[name] {
						t.Errorf("%s sets %s, which no deployed code reads (a typo?)", c.inst.addr, name)
					}
					if platformSet(name) {
						t.Errorf("%s sets %s, which Cloud Run sets itself", c.inst.addr, name)
					}
					if ev := c.env[name]; ev.value != "" && regexp.MustCompile(`TOKEN|SECRET|PASSWORD|WEBHOOK`).MatchString(name) {
						t.Errorf("%s sets %s as a plain value; credentials come from Secret Manager (value_source)", c.inst.addr, name)
					}
				}
			})
		}
	})
}

// topicName is the short name of a topic reference (a name or
// projects/P/topics/T).
func topicName(ref string) string {
	if i := strings.LastIndex(ref, "/topics/"); i >= 0 {
		return ref[i+len("/topics/"):]
	}
	return ref
}

// named indexes instances of a type by their evaluated name argument.
func named(t *testing.T, e *environment, typ string) map[string]*tfInstance {
	t.Helper()
	out := map[string]*tfInstance{}
	for _, i := range e.insts[typ] {
		n, err := i.root().str("name")
		if err != nil {
			t.Fatal(err)
		}
		if prev := out[n]; prev != nil {
			t.Errorf("%s and %s are both named %q", prev.addr, i.addr, n)
		}
		out[n] = i
	}
	return out
}

// resolveTopic finds the topic a reference (a name, an id, or a
// placeholder for a topic's id or name) designates.
func resolveTopic(t *testing.T, e *environment, topics map[string]*tfInstance, ref string) (string, bool) {
	t.Helper()
	if addr, _, ok := refersTo(ref); ok {
		for n, i := range topics {
			if i.addr == addr {
				return n, true
			}
		}
		return "", false
	}
	n := topicName(ref)
	_, ok := topics[n]
	return n, ok
}

func TestResourceNames(t *testing.T) {
	forEachEnvironment(t, func(t *testing.T, e *environment, g *goFacts, cs []*component) {
		topics := named(t, e, "google_pubsub_topic")
		subs := named(t, e, "google_pubsub_subscription")
		buckets := named(t, e, "google_storage_bucket")
		jobs := named(t, e, "google_cloud_run_v2_job")
		project := e.rootString(t, "project")
		region := e.rootString(t, "region")

		for _, c := range cs {
			for _, name := range sortedKeys(c.env) {
				v := c.env[name].value
				switch {
				case strings.HasSuffix(name, "_TOPIC"):
					if topics[v] == nil {
						t.Errorf("%s: %s=%q names no topic terraform creates (topics: %v)", c.inst.addr, name, v, sortedKeys(topics))
					}
				case strings.HasSuffix(name, "_SUBSCRIPTION"):
					if subs[v] == nil {
						t.Errorf("%s: %s=%q names no subscription terraform creates", c.inst.addr, name, v)
					}
				case strings.HasSuffix(name, "_BUCKET"):
					if buckets[v] == nil {
						t.Errorf("%s: %s=%q names no bucket terraform creates (buckets: %v)", c.inst.addr, name, v, sortedKeys(buckets))
					}
				case name == cloudenv.VarWorkerJob:
					m := regexp.MustCompile(`^projects/([^/]+)/locations/([^/]+)/jobs/([^/]+)$`).FindStringSubmatch(v)
					if m == nil || m[1] != project || m[2] != region || jobs[m[3]] == nil {
						t.Errorf("%s: %s=%q, want projects/%s/locations/%s/jobs/<a job terraform creates>", c.inst.addr, name, v, project, region)
					}
				case name == cloudenv.VarProject:
					if v != project {
						t.Errorf("%s: %s=%q, want var.project %q", c.inst.addr, name, v, project)
					}
				case name == cloudenv.VarRegion:
					if v != region {
						t.Errorf("%s: %s=%q, want var.region %q", c.inst.addr, name, v, region)
					}
				}
			}
		}
		// The names the code defaults to are the ones terraform creates, and
		// every component is given those same names.
		for _, d := range g.defaults {
			field, name, def := d.field, d.name, d.value
			var kind map[string]*tfInstance
			switch {
			case strings.HasSuffix(field, "Topic"):
				kind = topics
			case strings.HasSuffix(field, "Subscription"):
				kind = subs
			default:
				continue
			}
			if kind[def] == nil {
				t.Errorf("cloudenv.Defaults.%s is %q, which terraform does not create", field, def)
			}
			for _, c := range cs {
				if ev, ok := c.env[name]; ok && ev.value != def {
					t.Errorf("%s: %s=%q differs from cloudenv.Defaults.%s %q", c.inst.addr, name, ev.value, field, def)
				}
			}
		}
	})
}

func TestPartitionsSubscription(t *testing.T) {
	forEachEnvironment(t, func(t *testing.T, e *environment, g *goFacts, cs []*component) {
		worker := componentByName(t, cs, "worker")
		topics := named(t, e, "google_pubsub_topic")
		subs := named(t, e, "google_pubsub_subscription")
		subName := worker.env[cloudenv.VarPartitionsSubscription].value
		partitions := worker.env[cloudenv.VarPartitionsTopic].value
		deadLetter := worker.env[cloudenv.VarDeadLetterTopic].value
		sub := subs[subName]
		if sub == nil {
			t.Fatalf("no subscription %q", subName)
		}
		b := sub.root()
		mustStr := func(blk *tfBlock, name string) string {
			s, err := blk.str(name)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		if topic, ok := resolveTopic(t, e, topics, mustStr(b, "topic")); !ok || topic != partitions {
			t.Errorf("%s: topic is %q, want the partitions topic %q", sub.addr, mustStr(b, "topic"), partitions)
		}
		if push, _ := b.block("push_config"); push != nil {
			t.Errorf("%s: worker tasks pull; the subscription must not push", sub.addr)
		}
		dl, err := b.block("dead_letter_policy")
		if err != nil || dl == nil {
			t.Fatalf("%s: no dead_letter_policy", sub.addr)
		}
		if n, ok, err := dl.num("max_delivery_attempts"); err != nil || !ok || n != g.maxDeliveries {
			t.Errorf("%s: dead_letter_policy.max_delivery_attempts = %d, want %d (shared/pipeline Options.MaxDeliveries default: the worker marks a partition failed on that delivery)", sub.addr, n, g.maxDeliveries)
		}
		if topic, ok := resolveTopic(t, e, topics, mustStr(dl, "dead_letter_topic")); !ok || topic != deadLetter {
			t.Errorf("%s: dead_letter_topic is %q, want the topic the worker dead-letters to (%s=%q)", sub.addr, mustStr(dl, "dead_letter_topic"), cloudenv.VarDeadLetterTopic, deadLetter)
		}
		if n, ok, err := b.num("ack_deadline_seconds"); err != nil || !ok || n < 60 || n > 600 {
			t.Errorf("%s: ack_deadline_seconds = %d, want 60..600 (a partition's query runs for minutes)", sub.addr, n)
		}
		rp, _ := b.block("retry_policy")
		if rp == nil || mustStr(rp, "minimum_backoff") == "" || mustStr(rp, "maximum_backoff") == "" {
			t.Errorf("%s: want an exponential retry_policy with minimum and maximum backoff", sub.addr)
		}
		if mustStr(b, "message_retention_duration") == "" {
			t.Errorf("%s: no message_retention_duration", sub.addr)
		}
		if ep, _ := b.block("expiration_policy"); ep == nil || !ep.has("ttl") || mustStr(ep, "ttl") != "" {
			t.Errorf(`%s: want expiration_policy { ttl = "" } (never expire while idle)`, sub.addr)
		}
		// Someone must keep dead letters: a topic without a subscription
		// drops them.
		held := false
		for _, s := range e.insts["google_pubsub_subscription"] {
			if topic, ok := resolveTopic(t, e, topics, mustStr(s.root(), "topic")); ok && topic == deadLetter {
				held = true
			}
		}
		if !held {
			t.Errorf("no subscription on the dead-letter topic %q keeps dead letters for inspection", deadLetter)
		}
	})
}

// pushSources maps each function to the topic whose messages it handles
// (DESIGN.md, Messages): completion requests, backfill events, and the
// scanner's scheduler tick (the topic the scheduler job publishes to).
func pushSources(t *testing.T, e *environment, g *goFacts, cs []*component) map[string]string {
	t.Helper()
	topics := named(t, e, "google_pubsub_topic")
	scanner := componentByName(t, cs, "scanner")
	out := map[string]string{
		"Completion": scanner.env[cloudenv.VarCompleteTopic].value,
		"Notifier":   scanner.env[cloudenv.VarEventsTopic].value,
	}
	jobs := e.insts["google_cloud_scheduler_job"]
	if len(jobs) != 1 {
		t.Fatalf("want one scheduler job (the scanner's safety-net tick), have %d", len(jobs))
	}
	target, err := jobs[0].root().block("pubsub_target")
	if err != nil || target == nil {
		t.Fatalf("%s: want a pubsub_target", jobs[0].addr)
	}
	ref, err := target.str("topic_name")
	if err != nil {
		t.Fatal(err)
	}
	tick, ok := resolveTopic(t, e, topics, ref)
	if !ok {
		t.Fatalf("%s: pubsub_target.topic_name %q is not a topic terraform creates", jobs[0].addr, ref)
	}
	out["Scanner"] = tick
	return out
}

func TestPushSubscriptions(t *testing.T) {
	forEachEnvironment(t, func(t *testing.T, e *environment, g *goFacts, cs []*component) {
		topics := named(t, e, "google_pubsub_topic")
		project := e.rootString(t, "project")
		sources := pushSources(t, e, g, cs)
		for _, c := range cs {
			if c.target == "" {
				continue
			}
			t.Run(c.name, func(t *testing.T) {
				want := sources[c.target]
				if want == "" {
					t.Fatalf("the test does not know which topic feeds %s", c.target)
				}
				uri := "${" + c.inst.addr + ".uri}"
				var found []*tfInstance
				for _, s := range e.insts["google_pubsub_subscription"] {
					push, err := s.root().block("push_config")
					if err != nil {
						t.Fatal(err)
					}
					if push == nil {
						continue
					}
					ep, err := push.str("push_endpoint")
					if err != nil {
						t.Fatal(err)
					}
					if !strings.HasPrefix(ep, uri) {
						continue
					}
					found = append(found, s)
					topicRef, _ := s.root().str("topic")
					topic, ok := resolveTopic(t, e, topics, topicRef)
					if !ok || topic != want {
						t.Errorf("%s pushes topic %q to %s, want %q", s.addr, topicRef, c.target, want)
					}
					// functions-framework converts the push body to a
					// messagePublished CloudEvent when the path names the topic.
					if wantEP := uri + "/projects/" + project + "/topics/" + want; ep != wantEP {
						t.Errorf("%s: push_endpoint = %q, want %q", s.addr, ep, wantEP)
					}
					oidc, _ := push.block("oidc_token")
					if oidc == nil {
						t.Errorf("%s: pushes without an oidc_token; the service accepts authenticated calls only", s.addr)
					} else {
						if sa, _ := oidc.str("service_account_email"); sa == "" {
							t.Errorf("%s: oidc_token has no service_account_email", s.addr)
						}
						if aud, _ := oidc.str("audience"); aud != uri {
							t.Errorf("%s: oidc_token.audience = %q, want the service URL", s.addr, aud)
						}
					}
					ack, _, _ := s.root().num("ack_deadline_seconds")
					if timeout := atoi(strings.TrimSuffix(c.timeout, "s")); !strings.HasSuffix(c.timeout, "s") || timeout <= 0 || timeout > ack {
						t.Errorf("%s: ack_deadline_seconds %d is shorter than %s's request timeout %q: Pub/Sub would redeliver while the first delivery still runs", s.addr, ack, c.inst.addr, c.timeout)
					}
				}
				if len(found) != 1 {
					t.Errorf("want exactly one push subscription to %s (FUNCTION_TARGET=%s), have %d", c.inst.addr, c.target, len(found))
				}
				// Pub/Sub push and Eventarc count as internal traffic.
				if ingress, _ := c.inst.root().str("ingress"); ingress != "INGRESS_TRAFFIC_INTERNAL_ONLY" {
					t.Errorf("%s: ingress %q, want INGRESS_TRAFFIC_INTERNAL_ONLY (only Pub/Sub and Eventarc call it)", c.inst.addr, ingress)
				}
			})
		}
		// The scheduler publishes what the scanner expects: a Pub/Sub message.
		if len(e.insts["google_cloud_scheduler_job"]) == 1 {
			job := e.insts["google_cloud_scheduler_job"][0].root()
			if s, _ := job.str("schedule"); s != "*/15 * * * *" {
				t.Errorf("%s: schedule = %q, want every 15 minutes", job.inst.addr, s)
			}
		}
	})
}

// atoi is the value of a decimal number, or -1.
func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

func TestManifestTrigger(t *testing.T) {
	forEachEnvironment(t, func(t *testing.T, e *environment, g *goFacts, cs []*component) {
		scanner := componentByName(t, cs, "scanner")
		sqlBucket := scanner.env[cloudenv.VarSQLBucket].value
		triggers := e.insts["google_eventarc_trigger"]
		if len(triggers) != 1 {
			t.Fatalf("want one Eventarc trigger (the sync manifest), have %d", len(triggers))
		}
		tr := triggers[0].root()
		criteria, err := tr.blocks("matching_criteria")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, mc := range criteria {
			a, _ := mc.str("attribute")
			v, _ := mc.str("value")
			got[a] = v
		}
		if got["type"] != g.storageFinalizedType {
			t.Errorf("%s: event type %q, want %q (eventdata.TypeStorageFinalized, what the scanner handles)", tr.inst.addr, got["type"], g.storageFinalizedType)
		}
		if got["bucket"] != sqlBucket {
			t.Errorf("%s: bucket %q, want the sync bucket the scanner reads (%q) where %s is written", tr.inst.addr, got["bucket"], sqlBucket, g.manifestObject)
		}
		dest, err := tr.block("destination", "cloud_run_service")
		if err != nil || dest == nil {
			t.Fatalf("%s: want a destination.cloud_run_service", tr.inst.addr)
		}
		svc, _ := dest.str("service")
		name, _ := scanner.inst.root().str("name")
		if svc != name {
			t.Errorf("%s: destination service %q, want the scanner service %q", tr.inst.addr, svc, name)
		}
		loc, _ := tr.str("location")
		svcLoc, _ := scanner.inst.root().str("location")
		destRegion, _ := dest.str("region")
		if destRegion != svcLoc || loc != svcLoc {
			t.Errorf("%s: location %q / destination region %q, want the scanner's region %q", tr.inst.addr, loc, destRegion, svcLoc)
		}
		if bucket := named(t, e, "google_storage_bucket")[sqlBucket]; bucket != nil {
			bl, _ := bucket.root().str("location")
			if !strings.EqualFold(bl, loc) {
				t.Errorf("%s: trigger in %q but the sync bucket is in %q; a Cloud Storage trigger must be in its bucket's region", tr.inst.addr, loc, bl)
			}
		}
		if sa, _ := tr.str("service_account"); sa == "" {
			t.Errorf("%s: no service_account", tr.inst.addr)
		}
	})
}

func TestWorkerJob(t *testing.T) {
	forEachEnvironment(t, func(t *testing.T, e *environment, g *goFacts, cs []*component) {
		jobs := e.insts["google_cloud_run_v2_job"]
		if len(jobs) != 1 {
			t.Fatalf("want one Cloud Run job (the worker), have %d", len(jobs))
		}
		job := jobs[0].root()
		tmpl, _ := job.block("template")
		task, _ := job.block("template", "template")
		// Parallelism must be <= the task count, and RunJob overrides only
		// the task count (spec/gcp-limits.md §8): any fixed value is above
		// the small counts the scanner asks for. 0 (or unset) means "up to
		// the task count".
		if n, ok, err := tmpl.num("parallelism"); err != nil || (ok && n != 0) {
			t.Errorf("%s: template.parallelism = %d, want 0 or unset (%v)", jobs[0].addr, n, err)
		}
		if _, ok, err := task.num("max_retries"); err != nil || !ok {
			t.Errorf("%s: template.template.max_retries not set: %v", jobs[0].addr, err)
		}
		timeout, _ := task.str("timeout")
		if n := atoi(strings.TrimSuffix(timeout, "s")); !strings.HasSuffix(timeout, "s") || n < 60 {
			t.Errorf("%s: task timeout %q, want a duration in seconds of at least 60s", jobs[0].addr, timeout)
		}
		if p, _ := job.str("deletion_protection"); p != "false" {
			t.Errorf("%s: deletion_protection must be false, or terraform cannot replace the job", jobs[0].addr)
		}
		// The scanner caps the task count it asks for.
		scanner := componentByName(t, cs, "scanner")
		if max := atoi(scanner.env[cloudenv.VarMaxTasks].value); max < 1 {
			t.Errorf("%s: %s=%q, want a positive cap", scanner.inst.addr, cloudenv.VarMaxTasks, scanner.env[cloudenv.VarMaxTasks].value)
		}
	})
}

func TestStorageAndStaging(t *testing.T) {
	forEachEnvironment(t, func(t *testing.T, e *environment, g *goFacts, cs []*component) {
		buckets := named(t, e, "google_storage_bucket")
		scanner := componentByName(t, cs, "scanner")
		sql := buckets[scanner.env[cloudenv.VarSQLBucket].value]
		ledger := buckets[scanner.env[cloudenv.VarLedgerBucket].value]
		if sql == nil || ledger == nil {
			t.Fatal("the scanner's sync and ledger buckets are not created by terraform")
		}
		for _, b := range []*tfInstance{sql, ledger} {
			if v, _ := b.root().str("uniform_bucket_level_access"); v != "true" {
				t.Errorf("%s: uniform_bucket_level_access must be true", b.addr)
			}
		}
		if v, _ := ledger.root().block("versioning"); v == nil {
			t.Errorf("%s: the ledger bucket must be versioned", ledger.addr)
		} else if on, _ := v.str("enabled"); on != "true" {
			t.Errorf("%s: versioning.enabled = %q, want true", ledger.addr, on)
		}
		rules, err := sql.root().blocks("lifecycle_rule")
		if err != nil {
			t.Fatal(err)
		}
		expires := false
		for _, r := range rules {
			cond, _ := r.block("condition")
			act, _ := r.block("action")
			if cond == nil || act == nil {
				continue
			}
			// treestore.Sync sets each archive's custom time at every sync, so
			// the tree the manifest names is never older than the rule.
			age, _, _ := cond.num("days_since_custom_time")
			prefixes, _ := cond.strings("matches_prefix")
			typ, _ := act.str("type")
			if typ == "Delete" && age == 60 && slices.Equal(prefixes, []string{g.treePrefix}) {
				expires = true
			}
		}
		if !expires {
			t.Errorf("%s: want a lifecycle rule deleting %s* (treestore.TreePrefix) objects whose custom time (set at every sync) is older than 60 days", sql.addr, g.treePrefix)
		}

		staging := e.rootOutput(t, "staging_dataset").AsString()
		if !strings.HasSuffix(staging, "."+g.stagingDataset) {
			t.Errorf("staging dataset %q, want <project>.%s (config.DefaultStagingDataset)", staging, g.stagingDataset)
		}
		for _, ds := range e.insts["google_bigquery_dataset"] {
			id, _ := ds.root().str("dataset_id")
			if id != g.stagingDataset {
				continue
			}
			ms, _, _ := ds.root().num("default_table_expiration_ms")
			if want := g.stagingExpiryDays * 24 * 60 * 60 * 1000; ms != want {
				t.Errorf("%s: default_table_expiration_ms = %d, want %d (%d days, config.DefaultStagingExpirationDays)", ds.addr, ms, want, g.stagingExpiryDays)
			}
		}
	})
}

func TestSlackToken(t *testing.T) {
	forEachEnvironment(t, func(t *testing.T, e *environment, g *goFacts, cs []*component) {
		notifier := componentByName(t, cs, "notifier")
		name := cloudenv.VarSlackToken
		ev, ok := notifier.env[name]
		if !ok || ev.secret == "" {
			t.Fatalf("%s: %s must come from Secret Manager (value_source.secret_key_ref)", notifier.inst.addr, name)
		}
		if ev.version == "" {
			t.Errorf("%s: %s has no secret version", notifier.inst.addr, name)
		}
		if want := e.rootString(t, "slack_secret_name"); ev.secret != want {
			t.Errorf("%s: %s reads secret %q, want var.slack_secret_name %q", notifier.inst.addr, name, ev.secret, want)
		}
	})
}

func TestMonitoring(t *testing.T) {
	forEachEnvironment(t, func(t *testing.T, e *environment, g *goFacts, cs []*component) {
		messageRE := regexp.MustCompile(`jsonPayload\.message="([^"]+)"`)
		fieldRE := regexp.MustCompile(`EXTRACT\((jsonPayload|labels)\.([A-Za-z0-9_]+)\)`)
		dashboards := e.insts["google_monitoring_dashboard"]
		if len(dashboards) != 1 {
			t.Fatalf("want one dashboard, have %d", len(dashboards))
		}
		dashboard, err := dashboards[0].root().str("dashboard_json")
		if err != nil {
			t.Fatal(err)
		}
		metrics := e.insts["google_logging_metric"]
		if len(metrics) == 0 {
			t.Fatal("no log-based metrics")
		}
		// message -> type of a counter (no value_extractor) on it, what an
		// alert on the message's absence reads.
		metricType := map[string]string{}
		for _, m := range metrics {
			b := m.root()
			name, _ := b.str("name")
			filter, _ := b.str("filter")
			msgs := messageRE.FindAllStringSubmatch(filter, -1)
			if len(msgs) == 0 {
				t.Errorf("%s: filter %q selects no log message", m.addr, filter)
			}
			desc, err := b.block("metric_descriptor")
			if err != nil || desc == nil {
				t.Errorf("%s: want one metric_descriptor: %v", m.addr, err)
				continue
			}
			valueType, _ := desc.str("value_type")
			valueExtractor, _ := b.str("value_extractor")
			buckets, _ := b.block("bucket_options")
			var valueField string
			if valueExtractor != "" {
				f := fieldRE.FindAllStringSubmatch(valueExtractor, -1)
				if len(f) != 1 || f[0][1] != "jsonPayload" {
					t.Errorf("%s: value_extractor %q, want EXTRACT(jsonPayload.FIELD)", m.addr, valueExtractor)
				} else {
					valueField = f[0][2]
				}
			}
			switch {
			case valueType == "DISTRIBUTION" && (valueExtractor == "" || buckets == nil):
				t.Errorf("%s: a DISTRIBUTION metric needs a value_extractor and bucket_options", m.addr)
			case valueType != "DISTRIBUTION" && (valueExtractor != "" || buckets != nil):
				t.Errorf("%s: value_extractor and bucket_options need value_type DISTRIBUTION, have %q", m.addr, valueType)
			}

			extractors := map[string]string{} // label -> extractor
			if lv, _ := b.value("label_extractors"); lv != cty.NilVal && !lv.IsNull() {
				for it := lv.ElementIterator(); it.Next(); {
					k, v := it.Element()
					extractors[k.AsString()] = v.AsString()
				}
			}
			declared := map[string]bool{}
			labels, _ := desc.blocks("labels")
			for _, l := range labels {
				key, _ := l.str("key")
				declared[key] = true
				if extractors[key] == "" {
					t.Errorf("%s: metric label %s has no label_extractors entry", m.addr, key)
				}
			}
			for _, key := range sortedKeys(extractors) {
				if !declared[key] {
					t.Errorf("%s: label_extractors.%s is not a label of the metric_descriptor", m.addr, key)
				}
			}

			for _, mm := range msgs {
				msg := mm[1]
				if !slices.Contains(metricMessages, msg) {
					t.Errorf("%s: filters on message %q, which is none of shared/pipeline's exported Log* messages %q", m.addr, msg, metricMessages)
					continue
				}
				calls := g.logs[msg]
				if len(calls) == 0 {
					t.Errorf("%s: filters on message %q, which no deployed code logs", m.addr, msg)
					continue
				}
				if valueExtractor == "" {
					metricType[msg] = "logging.googleapis.com/user/" + name
				}
				for _, label := range sortedKeys(extractors) {
					for _, f := range fieldRE.FindAllStringSubmatch(extractors[label], -1) {
						field := f[2]
						if f[1] == "labels" {
							if !g.logLabelKeys[field] {
								t.Errorf("%s: extracts labels.%s, which shared/logging does not send as a label (LabelKeys)", m.addr, field)
							}
							continue
						}
						logged := false
						for _, c := range calls {
							logged = logged || c.fields[field]
						}
						if !logged {
							at := make([]string, len(calls))
							for i, c := range calls {
								at[i] = c.at
							}
							t.Errorf("%s: extracts jsonPayload.%s, but the %q log lines (%s) carry no such field", m.addr, field, msg, strings.Join(at, ", "))
						}
					}
				}
				// The value must be an argument of every call that logs the
				// message, and a number: a line without it counts nothing.
				if valueField != "" {
					for _, c := range calls {
						v, ok := c.args[valueField]
						switch {
						case !ok:
							t.Errorf("%s: takes its values from jsonPayload.%s, but the %q call at %s does not log that field", m.addr, valueField, msg, c.at)
						case textValue(v):
							t.Errorf("%s: takes its values from jsonPayload.%s, but the %q call at %s logs it as text", m.addr, valueField, msg, c.at)
						}
					}
				}
			}
			if !strings.Contains(dashboard, "logging.googleapis.com/user/"+name) {
				t.Errorf("%s: metric %s is not charted on the dashboard", m.addr, name)
			}
		}

		// Alert policies: dead letters, messages waiting, and no progress
		// while partitions wait.
		worker := componentByName(t, cs, "worker")
		partitionsSub := worker.env[cloudenv.VarPartitionsSubscription].value
		deadLetter := worker.env[cloudenv.VarDeadLetterTopic].value
		type cond struct{ kind, filter string }
		var deadLetters, waiting, stuck bool
		for _, p := range e.insts["google_monitoring_alert_policy"] {
			combiner, _ := p.root().str("combiner")
			var conds []cond
			blocks, _ := p.root().blocks("conditions")
			for _, c := range blocks {
				for _, kind := range []string{"condition_threshold", "condition_absent"} {
					if cb, _ := c.block(kind); cb != nil {
						f, _ := cb.str("filter")
						conds = append(conds, cond{kind, f})
					}
				}
			}
			var undelivered, absentDone bool
			for _, c := range conds {
				if strings.Contains(c.filter, deadLetter) {
					deadLetters = true
				}
				if strings.Contains(c.filter, "oldest_unacked_message_age") && strings.Contains(c.filter, `"`+partitionsSub+`"`) {
					waiting = true
				}
				if c.kind == "condition_threshold" && strings.Contains(c.filter, "num_undelivered_messages") && strings.Contains(c.filter, `"`+partitionsSub+`"`) {
					undelivered = true
				}
				if c.kind == "condition_absent" && metricType[pipeline.LogPartitionDone] != "" && strings.Contains(c.filter, `"`+metricType[pipeline.LogPartitionDone]+`"`) {
					absentDone = true
				}
			}
			if combiner == "AND" && undelivered && absentDone {
				stuck = true
			}
		}
		for _, tc := range []struct {
			what string
			ok   bool
		}{
			{fmt.Sprintf("an alert on dead letters (a condition on %q or its subscription)", deadLetter), deadLetters},
			{fmt.Sprintf("an alert on the age of the oldest unacked message of %q", partitionsSub), waiting},
			{fmt.Sprintf("an AND alert: messages waiting in %q and no \"partition done\" (condition_absent)", partitionsSub), stuck},
		} {
			if !tc.ok {
				t.Errorf("want %s", tc.what)
			}
		}
	})
}
