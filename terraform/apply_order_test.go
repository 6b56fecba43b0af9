package terraform_test

// First apply (issue 9 F2): what terraform creates and then uses in the same
// apply must be usable when it is used. Two Google services answer "not
// found" for a while after a create, and terraform's dependency order
// alone does not wait for that:
//
//   - Cloud Monitoring answers 404 "Cannot find metric(s)" to an alert
//     policy on a log-based metric created moments before, for up to ~10
//     minutes (hashicorp/terraform-provider-google#11102);
//   - IAM grants naming a service account created in the same apply can
//     fail with "Service account ... does not exist" until the account has
//     propagated (https://cloud.google.com/iam/docs/service-accounts-create:
//     "it might take 60 seconds or more" before it can be used).
//
// So every alert policy on a log-based metric depends on a time_sleep of at
// least 10 minutes triggered by those metrics, and every grant to a
// service account created here depends on a time_sleep of at least 60
// seconds triggered by that account.

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// refs lists the "type.name" resources an expression of module m refers
// to, through locals.
func refs(m *tfModule, e hcl.Expression) []string {
	var out []string
	for _, tr := range e.Variables() {
		n := traversalNames(tr)
		switch {
		case len(n) < 2:
		case n[0] == "local":
			if a := m.locals[n[1]]; a != nil {
				out = append(out, refs(m, a.Expr)...)
			}
		case n[0] != "var" && n[0] != "module" && n[0] != "data" && n[0] != "each" && n[0] != "count":
			out = append(out, n[0]+"."+n[1])
		}
	}
	return out
}

// blockRefs lists every resource a block's attributes (nested blocks
// included) refer to, depends_on aside.
func blockRefs(m *tfModule, b *hclsyntax.Block) []string {
	var out []string
	for name, a := range b.Body.Attributes {
		if name != "depends_on" {
			out = append(out, refs(m, a.Expr)...)
		}
	}
	for _, nb := range b.Body.Blocks {
		out = append(out, blockRefs(m, nb)...)
	}
	return out
}

// dependsOn lists a block's depends_on entries.
func dependsOn(m *tfModule, b *hclsyntax.Block) []string {
	a := b.Body.Attributes["depends_on"]
	if a == nil {
		return nil
	}
	var out []string
	if tup, ok := a.Expr.(*hclsyntax.TupleConsExpr); ok {
		for _, e := range tup.Exprs {
			out = append(out, refs(m, e)...)
		}
	}
	return out
}

// sleepFor is the create_duration of a time_sleep block (0 if unreadable).
func sleepFor(b *hclsyntax.Block) time.Duration {
	a := b.Body.Attributes["create_duration"]
	if a == nil {
		return 0
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return 0
	}
	d, err := time.ParseDuration(v.AsString())
	if err != nil {
		return 0
	}
	return d
}

// waitsFor says whether block b of module m depends on a time_sleep of at
// least min whose triggers (or depends_on) refer to every one of targets.
func waitsFor(m *tfModule, b *hclsyntax.Block, min time.Duration, targets []string) bool {
	for _, d := range dependsOn(m, b) {
		r := m.resources[d]
		if r == nil || r.typ != "time_sleep" || sleepFor(r.block) < min {
			continue
		}
		covered := map[string]bool{}
		for _, x := range append(blockRefs(m, r.block), dependsOn(m, r.block)...) {
			covered[x] = true
		}
		all := true
		for _, t := range targets {
			all = all && covered[t]
		}
		if all {
			return true
		}
	}
	return false
}

func TestFirstApplyWaits(t *testing.T) {
	cfg := loadConfig(t)
	for _, m := range cfg.mods {
		for _, key := range sortedKeys(m.resources) {
			r := m.resources[key]
			var metrics, accounts []string
			for _, x := range blockRefs(m, r.block) {
				switch {
				case strings.HasPrefix(x, "google_logging_metric."):
					metrics = append(metrics, x)
				case strings.HasPrefix(x, "google_service_account."):
					accounts = append(accounts, x)
				}
			}
			where := m.dir + ": " + key
			if r.typ == "google_monitoring_alert_policy" && len(metrics) > 0 && !waitsFor(m, r.block, 10*time.Minute, metrics) {
				t.Errorf("%s alerts on log-based metrics %v created in the same apply; it must depend on a time_sleep of >= 10m triggered by them (Monitoring answers 404 until they propagate)", where, metrics)
			}
			_, isGrant := grantKinds[r.typ]
			if isGrant && len(accounts) > 0 && !waitsFor(m, r.block, 60*time.Second, accounts) {
				t.Errorf("%s grants to service accounts %v created in the same apply; it must depend on a time_sleep of >= 60s triggered by them (IAM answers 'does not exist' until they propagate)", where, accounts)
			}
		}
	}
}
