// Package pipeline is the backfill system's behaviour, written against
// interfaces only: reconciling the entries of a tree with the ledger (Scan),
// computing one partition into staging (Worker), finishing a backfill when
// its last partition is final (Finish), backing up production and swapping
// the staged partitions in (Complete), and the operator actions retry,
// cancel and rollback. Every step is idempotent and level-triggered: it reads
// the ledger and the warehouse and does the next thing, so running it twice,
// or after a crash, is safe.
package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/bqbackfill/bqbackfill/shared/config"
	"github.com/bqbackfill/bqbackfill/shared/estimate"
	"github.com/bqbackfill/bqbackfill/shared/ledger"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Spec is everything needed to run and complete one backfill, fixed when the
// backfill starts and stored in the ledger. Workers and the completion
// function read only the Spec, never the (possibly newer) tree, so a push
// after the start changes nothing for a running backfill.
type Spec struct {
	Table     warehouse.TableRef `json:"table"`      // the table named in the tree
	EntryDate string             `json:"entry_date"` // YYYY-MM-DD, the entry's key

	// Source is the table backed up, seeded from and compared against:
	// the table itself, or its target-deployed copy under --target.
	Source warehouse.TableRef `json:"source"`
	// Dest receives the swap: Source, or the public project's copy of a
	// public_bigquery table.
	Dest    warehouse.TableRef `json:"dest"`
	Staging warehouse.TableRef `json:"staging"`
	Backup  warehouse.TableRef `json:"backup"`

	BillingProject string `json:"billing_project"`
	DefaultProject string `json:"default_project"` // resolves unqualified names in the query
	DefaultDataset string `json:"default_dataset"`

	PartitionType  warehouse.PartitionType `json:"partition_type"` // "" for unpartitioned
	PartitionField string                  `json:"partition_field,omitempty"`
	Partitions     []PartitionSpec         `json:"partitions"`
	// Sequential runs partitions one at a time in order (depends_on_past).
	Sequential bool `json:"sequential,omitempty"`
	// Seed is the partition copied from Source into staging before the first
	// sequential partition ("" when none).
	Seed string `json:"seed,omitempty"`
	// WholeTable swaps the whole staging table instead of partitions.
	WholeTable bool `json:"whole_table,omitempty"`

	// Query is the rendered SQL run for every partition (SQL tables).
	Query string `json:"query,omitempty"`
	// Checks are the data checks run after each partition (checks.go).
	Checks []ChecksFile `json:"checks,omitempty"`
	// Script is set for query.py tables (and .py custom queries).
	Script *ScriptSpec `json:"script,omitempty"`
	// Tree is the synced tree object the backfill started from.
	Tree string `json:"tree,omitempty"`

	// Promotion is copy or atomic (bqbackfill.yaml promotion:); "" is copy.
	Promotion config.PromotionMode `json:"promotion,omitempty"`
	// Estimate is what the backfill was expected to process and cost when
	// it started (nil when it could not be estimated).
	Estimate *estimate.Estimate `json:"estimate,omitempty"`

	Watchers  []string `json:"watchers"`
	MirrorIAM bool     `json:"mirror_iam,omitempty"`
	Target    string   `json:"target,omitempty"`
	// Warnings noticed while planning (excluded dates on a depends_on_past
	// table, a query without self-references, end date today, …).
	Warnings []string `json:"warnings,omitempty"`
}

// PartitionSpec is one unit of work: one partition (or the whole table).
type PartitionSpec struct {
	ID     string            `json:"id"`   // ledger id: the decorator, or "all" for the whole table
	Dest   string            `json:"dest"` // the decorator written ("" = whole table)
	Date   string            `json:"date"` // the enumerated date, YYYY-MM-DD
	Params []warehouse.Param `json:"params"`
}

// ScriptSpec says how to run a query.py table for one date.
type ScriptSpec struct {
	Path       string   `json:"path"` // relative to the tree root
	Entrypoint string   `json:"entrypoint"`
	DateArg    string   `json:"date_arg"`
	Args       []string `json:"args,omitempty"`
	DryRunArg  string   `json:"dry_run_arg,omitempty"`
}

// WholeTableID is the ledger id of the single job of an unpartitioned table.
const WholeTableID = "all"

// BackfillID is the ledger id of a table's entry: "<project>.<dataset>.<table>/<entry_date>".
func BackfillID(table warehouse.TableRef, entryDate string) string {
	return table.String() + "/" + entryDate
}

// ParseBackfillID splits a backfill id.
func ParseBackfillID(id string) (warehouse.TableRef, string, error) {
	i := strings.LastIndex(id, "/")
	if i < 0 {
		return warehouse.TableRef{}, "", fmt.Errorf("backfill id %q: want <project>.<dataset>.<table>/<entry_date>", id)
	}
	t, err := warehouse.ParseTableRef(id[:i])
	if err != nil {
		return warehouse.TableRef{}, "", fmt.Errorf("backfill id %q: %w", id, err)
	}
	return t, id[i+1:], nil
}

// Partition returns the partition with ledger id id.
func (s *Spec) Partition(id string) (PartitionSpec, int, bool) {
	for i, p := range s.Partitions {
		if p.ID == id {
			return p, i, true
		}
	}
	return PartitionSpec{}, -1, false
}

func encodeSpec(s *Spec) (json.RawMessage, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode spec of %s: %w", BackfillID(s.Table, s.EntryDate), err)
	}
	return b, nil
}

// specs caches decoded specs by content hash: a spec never changes once
// written, and every partition message needs its backfill's spec.
var specs sync.Map // SpecHash -> *Spec

// spec returns a backfill's spec (shared, read-only).
func (p *Pipeline) spec(ctx context.Context, bf *ledger.Backfill) (*Spec, error) {
	if len(bf.Spec) > 0 {
		return decodeSpec(bf.ID, bf.Spec)
	}
	if bf.SpecHash != "" {
		if v, ok := specs.Load(bf.SpecHash); ok {
			return v.(*Spec), nil
		}
	}
	raw, err := p.Ledger.Spec(ctx, bf.ID)
	if err != nil {
		return nil, fmt.Errorf("read spec of %s: %w", bf.ID, err)
	}
	s, err := decodeSpec(bf.ID, raw)
	if err != nil {
		return nil, err
	}
	if bf.SpecHash != "" && ledger.SpecHashOf(raw) == bf.SpecHash {
		specs.Store(bf.SpecHash, s)
	}
	return s, nil
}

func decodeSpec(id string, raw json.RawMessage) (*Spec, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("backfill %s has no spec in the ledger", id)
	}
	var s Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("decode spec of %s: %w", id, err)
	}
	return &s, nil
}

// jobLabels are attached to every warehouse job of a backfill so its cost
// and jobs can be found in BigQuery's job history.
func jobLabels(s *Spec) map[string]string {
	return map[string]string{
		"bqbackfill_table": labelValue(s.Table.Dataset + "__" + s.Table.Table),
		"bqbackfill_entry": labelValue(s.EntryDate),
	}
}

// labelValue turns s into a valid BigQuery label value: lowercase letters,
// digits, _ and -, at most 63 characters.
func labelValue(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := b.String()
	if len(out) > 63 {
		out = out[:63]
	}
	return out
}

// jobID is a deterministic job id prefix for one step of a backfill.
func jobID(s *Spec, step string) string {
	id := "bqbackfill_" + labelValue(s.Table.Dataset+"__"+s.Table.Table+"_"+s.EntryDate+"_"+step)
	return strings.ReplaceAll(id, "-", "_")
}
