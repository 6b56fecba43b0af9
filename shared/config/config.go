// Package config holds the settings every part of bqbackfill shares: the
// constants that bigquery-etl hard-codes (staging project and dataset,
// billing projects, placeholder watcher and reason, the public project,
// retention and age limits) with those values as defaults, and the targets
// that --target redirects a backfill to.
//
// The settings are read from an optional file named bqbackfill.yaml at the
// root of the sql tree, that is the directory that contains the project
// directories (sql/bqbackfill.yaml in a bigquery-etl checkout). Keeping it
// inside the tree means it travels with the tree when the tree is synced to
// Cloud Storage, so the CLI and the deployed scanner read the same file.
// Unknown keys are an error that names the key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// FileName is the settings file at the root of the sql tree.
const FileName = "bqbackfill.yaml"

// The Mozilla constants (bigquery-etl reference §3.1), used as defaults.
const (
	DefaultStagingProject        = "moz-fx-data-shared-prod"
	DefaultStagingDataset        = "backfills_staging_derived"
	DefaultBillingProject        = "moz-fx-data-backfill-slots"
	DefaultBillingProjectPrefix  = "moz-fx-data-backfill-"
	DefaultPlaceholderWatcher    = "nobody@mozilla.com"
	DefaultPlaceholderReason     = "Please provide a reason for the backfill and links to any related bugzilla or jira tickets"
	DefaultPublicProject         = "mozilla-public-data"
	DefaultRetentionDays         = 775
	DefaultMaxEntryAgeDays       = 28
	DefaultStagingExpirationDays = 30
	DefaultBackupExpirationDays  = 30
	DefaultSamplingBatchSize     = 20
)

// Settings are the values bigquery-etl hard-codes. The zero value is not
// useful; start from Default.
type Settings struct {
	// StagingProject holds the staging and backup tables. Tables of this
	// project get staging names without a project prefix (reference §4.1).
	StagingProject string
	// StagingDataset is the dataset of the staging and backup tables.
	StagingDataset string
	// DefaultBillingProject runs the queries of an entry without
	// billing_project.
	DefaultBillingProject string
	// BillingProjectPrefix is the prefix an entry's billing_project must have.
	BillingProjectPrefix string
	// PlaceholderWatcher is the watcher create writes when none is given;
	// validation rejects it (V1).
	PlaceholderWatcher string
	// PlaceholderReason is the reason validation rejects (V2).
	PlaceholderReason string
	// PublicProject receives the swap of public_bigquery tables.
	PublicProject string
	// RetentionDays caps how far back a backfill may start (V9, R7).
	RetentionDays int
	// MaxEntryAgeDays is how old an Initiate entry may be and still run (V8).
	MaxEntryAgeDays int
	// StagingExpirationDays is the lifetime of a staging table.
	StagingExpirationDays int
	// BackupExpirationDays is the lifetime of a backup table.
	BackupExpirationDays int
	// SamplingBatchSize is the default reinitialize_sampling_batch_size.
	SamplingBatchSize int
	// Targets are the --target destinations by name.
	Targets map[string]Target
	// Promotion chooses how staged partitions replace production's.
	Promotion Promotion
	// PricePerTiBUSD is the on-demand query price used for estimates.
	PricePerTiBUSD float64
	// MaxBytesPerBackfill refuses to start a backfill whose estimated bytes
	// processed exceed it (0: no guard).
	MaxBytesPerBackfill int64
	// ScriptEnv names the variables of bqbackfill's environment a query.py
	// receives besides what it needs to run (script_env; see scriptenv.go).
	ScriptEnv []string
}

// Target redirects a backfill to a development deployment of the table
// (reference §4.5). Dataset, DatasetPrefix and ArtifactPrefix are templates
// that may use {{ artifact.project_id }}, {{ artifact.dataset_id }} and
// {{ artifact.table_id }} (the source table's parts).
type Target struct {
	// Name is the key under targets:.
	Name string
	// Project holds the target-deployed tables, its staging dataset, and
	// pays for the queries of entries without billing_project.
	Project string
	// Dataset, when set, is the template of the effective table's dataset.
	Dataset string
	// DatasetPrefix, when Dataset is empty, is prepended to the source dataset.
	DatasetPrefix string
	// ArtifactPrefix is prepended to the table name.
	ArtifactPrefix string
}

// Default returns the Mozilla constants.
func Default() Settings {
	return Settings{
		StagingProject:        DefaultStagingProject,
		StagingDataset:        DefaultStagingDataset,
		DefaultBillingProject: DefaultBillingProject,
		BillingProjectPrefix:  DefaultBillingProjectPrefix,
		PlaceholderWatcher:    DefaultPlaceholderWatcher,
		PlaceholderReason:     DefaultPlaceholderReason,
		PublicProject:         DefaultPublicProject,
		RetentionDays:         DefaultRetentionDays,
		MaxEntryAgeDays:       DefaultMaxEntryAgeDays,
		StagingExpirationDays: DefaultStagingExpirationDays,
		BackupExpirationDays:  DefaultBackupExpirationDays,
		SamplingBatchSize:     DefaultSamplingBatchSize,
		Promotion:             Promotion{Default: PromoteCopy},
		PricePerTiBUSD:        DefaultPricePerTiBUSD,
	}
}

// Load reads FileName at the root of fsys. A missing file gives Default.
func Load(fsys fs.FS) (Settings, error) {
	data, err := fs.ReadFile(fsys, FileName)
	if errors.Is(err, fs.ErrNotExist) {
		return Default(), nil
	}
	if err != nil {
		return Settings{}, fmt.Errorf("read %s: %w", FileName, err)
	}
	return Parse(data, FileName)
}

// Parse reads settings from the YAML in data; name is used in messages.
// Keys that are absent keep their default. Unknown keys are an error.
func Parse(data []byte, name string) (Settings, error) {
	s := Default()
	if len(bytes.TrimSpace(data)) == 0 {
		return s, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Settings{}, fmt.Errorf("%s: %w", name, err)
	}
	if len(doc.Content) == 0 {
		return s, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return s, nil
	}
	if root.Kind != yaml.MappingNode {
		return Settings{}, fmt.Errorf("%s:%d: the settings file must be a mapping of setting: value", name, root.Line)
	}
	strs := map[string]*string{
		"staging_project":         &s.StagingProject,
		"staging_dataset":         &s.StagingDataset,
		"default_billing_project": &s.DefaultBillingProject,
		"billing_project_prefix":  &s.BillingProjectPrefix,
		"placeholder_watcher":     &s.PlaceholderWatcher,
		"placeholder_reason":      &s.PlaceholderReason,
		"public_project":          &s.PublicProject,
	}
	ints := map[string]*int{
		"retention_days":          &s.RetentionDays,
		"max_entry_age_days":      &s.MaxEntryAgeDays,
		"staging_expiration_days": &s.StagingExpirationDays,
		"backup_expiration_days":  &s.BackupExpirationDays,
		"sampling_batch_size":     &s.SamplingBatchSize,
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		key := k.Value
		if seen[key] {
			return Settings{}, fmt.Errorf("%s:%d: key %q appears twice", name, k.Line, key)
		}
		seen[key] = true
		switch {
		case strs[key] != nil:
			if v.Kind != yaml.ScalarNode || v.Tag != "!!str" || strings.TrimSpace(v.Value) == "" {
				return Settings{}, fmt.Errorf("%s:%d: %s must be a non-empty string", name, v.Line, key)
			}
			if check := nameKeys[key]; check != nil {
				if err := check(v.Value); err != nil {
					return Settings{}, fmt.Errorf("%s:%d: %s: %w", name, v.Line, key, err)
				}
			}
			*strs[key] = v.Value
		case ints[key] != nil:
			n, err := intValue(v)
			if err != nil || n <= 0 {
				return Settings{}, fmt.Errorf("%s:%d: %s must be a positive whole number of days or rows, got %q", name, v.Line, key, v.Value)
			}
			*ints[key] = n
		case costKeys[key] != nil:
			if err := costKeys[key](&s, v, name); err != nil {
				return Settings{}, err
			}
		case key == "targets":
			t, err := parseTargets(v, name)
			if err != nil {
				return Settings{}, err
			}
			s.Targets = t
		default:
			return Settings{}, fmt.Errorf("%s:%d: unknown setting %q; known settings: %s", name, k.Line, key, strings.Join(knownKeys(strs, ints), ", "))
		}
	}
	return s, nil
}

func knownKeys(strs map[string]*string, ints map[string]*int) []string {
	keys := []string{"targets"}
	for k := range costKeys {
		keys = append(keys, k)
	}
	for k := range strs {
		keys = append(keys, k)
	}
	for k := range ints {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func intValue(v *yaml.Node) (int, error) {
	if v.Kind != yaml.ScalarNode || v.Tag != "!!int" {
		return 0, fmt.Errorf("not an integer")
	}
	var n int
	if err := v.Decode(&n); err != nil {
		return 0, fmt.Errorf("decode integer: %w", err)
	}
	return n, nil
}

var targetKeys = map[string]bool{"project": true, "dataset": true, "dataset_prefix": true, "artifact_prefix": true}

func parseTargets(n *yaml.Node, name string) (map[string]Target, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: targets must be a mapping of target name to {project, dataset | dataset_prefix, artifact_prefix}", name, n.Line)
	}
	out := map[string]Target{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := out[k.Value]; dup {
			return nil, fmt.Errorf("%s:%d: target %q is defined twice", name, k.Line, k.Value)
		}
		if v.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s:%d: target %q must be a mapping with project and optional dataset, dataset_prefix, artifact_prefix", name, v.Line, k.Value)
		}
		t := Target{Name: k.Value}
		for j := 0; j+1 < len(v.Content); j += 2 {
			tk, tv := v.Content[j], v.Content[j+1]
			if !targetKeys[tk.Value] {
				return nil, fmt.Errorf("%s:%d: unknown key %q in target %q; known keys: artifact_prefix, dataset, dataset_prefix, project", name, tk.Line, tk.Value, k.Value)
			}
			if tv.Kind != yaml.ScalarNode || (tv.Tag != "!!str" && tv.Tag != "!!null") {
				return nil, fmt.Errorf("%s:%d: %s of target %q must be a string", name, tv.Line, tk.Value, k.Value)
			}
			val := tv.Value
			if tv.Tag == "!!null" {
				val = ""
			}
			switch tk.Value {
			case "project":
				t.Project = val
			case "dataset":
				t.Dataset = val
			case "dataset_prefix":
				t.DatasetPrefix = val
			case "artifact_prefix":
				t.ArtifactPrefix = val
			}
		}
		if err := t.check(); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, k.Line, err)
		}
		out[k.Value] = t
	}
	return out, nil
}

var (
	projectRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	datasetRE = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
)

// nameKeys check the settings that name BigQuery projects and datasets:
// they appear in table names, plan output and notifications, so a backtick
// or a quote is refused here rather than carried everywhere.
var nameKeys = map[string]func(string) error{
	"staging_project":         checkProject,
	"default_billing_project": checkProject,
	"public_project":          checkProject,
	"billing_project_prefix":  checkProject,
	"staging_dataset": func(v string) error {
		if !datasetRE.MatchString(v) || len(v) > 1024 {
			return fmt.Errorf("want a BigQuery dataset name (letters, digits and underscores, at most 1024), got %q", v)
		}
		return nil
	},
}

func checkProject(v string) error {
	if !projectRE.MatchString(v) {
		return fmt.Errorf("want a project id (letters, digits, dashes and underscores), got %q", v)
	}
	return nil
}

func (t Target) check() error {
	if !projectRE.MatchString(t.Project) {
		return fmt.Errorf("target %q: project is required and must be a project id, got %q", t.Name, t.Project)
	}
	if t.Dataset != "" && t.DatasetPrefix != "" {
		return fmt.Errorf("target %q: set dataset or dataset_prefix, not both", t.Name)
	}
	for _, tmpl := range []string{t.Dataset, t.DatasetPrefix, t.ArtifactPrefix} {
		if _, err := render(tmpl, warehouse.TableRef{Project: "p", Dataset: "d", Table: "t"}); err != nil {
			return fmt.Errorf("target %q: %w", t.Name, err)
		}
	}
	return nil
}

// Target returns the target called name, or an error listing the defined
// targets.
func (s Settings) Target(name string) (*Target, error) {
	t, ok := s.Targets[name]
	if !ok {
		names := make([]string, 0, len(s.Targets))
		for n := range s.Targets {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) == 0 {
			return nil, fmt.Errorf("unknown target %q: no targets are defined (add a targets: section to %s at the root of the sql tree)", name, FileName)
		}
		return nil, fmt.Errorf("unknown target %q; defined targets: %s", name, strings.Join(names, ", "))
	}
	return &t, nil
}

// Effective returns the target-deployed copy of src (reference §4.5):
// project = the target project; dataset = the rendered dataset template, or
// the rendered dataset prefix followed by the source dataset, with every "-"
// replaced by "_"; table = the rendered artifact prefix followed by the
// source table.
func (t Target) Effective(src warehouse.TableRef) (warehouse.TableRef, error) {
	dataset := src.Dataset
	switch {
	case t.Dataset != "":
		d, err := render(t.Dataset, src)
		if err != nil {
			return warehouse.TableRef{}, fmt.Errorf("target %q: %w", t.Name, err)
		}
		dataset = d
	case t.DatasetPrefix != "":
		p, err := render(t.DatasetPrefix, src)
		if err != nil {
			return warehouse.TableRef{}, fmt.Errorf("target %q: %w", t.Name, err)
		}
		dataset = p + src.Dataset
	}
	prefix, err := render(t.ArtifactPrefix, src)
	if err != nil {
		return warehouse.TableRef{}, fmt.Errorf("target %q: %w", t.Name, err)
	}
	return warehouse.TableRef{
		Project: t.Project,
		Dataset: strings.ReplaceAll(dataset, "-", "_"),
		Table:   prefix + src.Table,
	}, nil
}

var placeholderRE = regexp.MustCompile(`\{\{\s*([^}]*?)\s*\}\}`)

// render substitutes the artifact variables of a target template.
func render(tmpl string, src warehouse.TableRef) (string, error) {
	var bad string
	out := placeholderRE.ReplaceAllStringFunc(tmpl, func(m string) string {
		name := placeholderRE.FindStringSubmatch(m)[1]
		switch name {
		case "artifact.project_id":
			return src.Project
		case "artifact.dataset_id":
			return src.Dataset
		case "artifact.table_id":
			return src.Table
		}
		if bad == "" {
			bad = name
		}
		return m
	})
	if bad != "" {
		return "", fmt.Errorf("template %q uses unknown variable %q (known: artifact.project_id, artifact.dataset_id, artifact.table_id)", tmpl, bad)
	}
	return out, nil
}
