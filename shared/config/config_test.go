package config

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

func TestDefaults(t *testing.T) {
	s, err := Load(fstest.MapFS{})
	if err != nil {
		t.Fatal(err)
	}
	if s.StagingProject != "moz-fx-data-shared-prod" || s.StagingDataset != "backfills_staging_derived" ||
		s.DefaultBillingProject != "moz-fx-data-backfill-slots" || s.BillingProjectPrefix != "moz-fx-data-backfill-" ||
		s.PlaceholderWatcher != "nobody@mozilla.com" || !strings.HasPrefix(s.PlaceholderReason, "Please provide a reason") ||
		s.PublicProject != "mozilla-public-data" || s.RetentionDays != 775 || s.MaxEntryAgeDays != 28 ||
		s.StagingExpirationDays != 30 || s.BackupExpirationDays != 30 || s.SamplingBatchSize != 20 {
		t.Errorf("defaults: %+v", s)
	}
}

func TestParse(t *testing.T) {
	src := `staging_project: my-staging
retention_days: 400
targets:
  dev:
    project: sandbox
    dataset_prefix: "dev_mybranch__{{ artifact.project_id }}__"
  named:
    project: sandbox2
    dataset: "{{artifact.dataset_id}}_copy"
    artifact_prefix: x_
`
	s, err := Load(fstest.MapFS{FileName: {Data: []byte(src)}})
	if err != nil {
		t.Fatal(err)
	}
	if s.StagingProject != "my-staging" || s.RetentionDays != 400 || s.StagingDataset != DefaultStagingDataset {
		t.Errorf("got %+v", s)
	}
	src2 := warehouse.TableRef{Project: "moz-fx-data-shared-prod", Dataset: "test_derived", Table: "test_table_v1"}
	dev, err := s.Target("dev")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := dev.Effective(src2); got.String() != "sandbox.dev_mybranch__moz_fx_data_shared_prod__test_derived.test_table_v1" {
		t.Errorf("dev effective %s", got)
	}
	named, _ := s.Target("named")
	if got, _ := named.Effective(src2); got.String() != "sandbox2.test_derived_copy.x_test_table_v1" {
		t.Errorf("named effective %s", got)
	}
	if _, err := s.Target("prod"); err == nil || !strings.Contains(err.Error(), "dev, named") {
		t.Errorf("unknown target: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	for src, want := range map[string]string{
		"stagin_project: x\n":                                                       `unknown setting "stagin_project"`,
		"retention_days: many\n":                                                    "retention_days must be a positive whole number",
		"retention_days: -1\n":                                                      "retention_days must be a positive",
		"staging_project: [a]\n":                                                    "staging_project must be a non-empty string",
		"targets:\n  dev:\n    dataset: x\n":                                        "project is required",
		"targets:\n  dev:\n    project: p\n    datasets: x\n":                       `unknown key "datasets" in target "dev"`,
		"targets:\n  dev:\n    project: p\n    dataset: '{{ x }}'\n":                `unknown variable "x"`,
		"targets:\n  dev:\n    project: p\n    dataset: a\n    dataset_prefix: b\n": "not both",
		"- a\n":  "must be a mapping",
		"a: [\n": FileName,
		"staging_project: a\nstaging_project: b\n": "appears twice",
		// Names that end up in table names, plans and notifications
		// (review: hostile input, item 14).
		"staging_dataset: \"`evil`\"\n":      "bqbackfill.yaml:1: staging_dataset: want a BigQuery dataset name",
		"staging_dataset: bad-dataset\n":     "staging_dataset: want a BigQuery dataset name",
		"staging_project: \"p'; DROP\"\n":    "staging_project: want a project id",
		"public_project: a.b\n":              "public_project: want a project id",
		"billing_project_prefix: \"x y-\"\n": "billing_project_prefix: want a project id",
		"default_billing_project: \"`p`\"\n": "default_billing_project: want a project id",
	} {
		_, err := Parse([]byte(src), FileName)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", src, err, want)
		}
	}
}
