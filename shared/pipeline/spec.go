// Package pipeline is the backfill system's behaviour, written against
// interfaces only (Ledger, warehouse.Warehouse, Publisher, Receiver,
// Launcher; messages are shared/message's types): reconciling desired
// entries with the ledger (Scan; reading and planning the tree is the
// scanner's side, shared/treescan),
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

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/config"
	"github.com/bqbackfill/bqbackfill/shared/estimate"
	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Spec is everything needed to run and complete one backfill, fixed when the
// backfill starts and stored in the ledger: the entry's plan (tables,
// partitions with their parameters, sequential or not, seed, billing
// project, …) plus the query as it runs. Workers and the completion
// function read only the Spec, never the (possibly newer) tree, so a push
// after the start changes nothing for a running backfill.
type Spec struct {
	backfill.Plan
	// SQL is the query run for every partition: rendered, its
	// self-references pointed at staging for a chain, wrapped by the
	// shredder mitigation when planned. Empty for a query.py script
	// (Plan.Query says which script and how to call it).
	SQL string `json:"sql,omitempty"`
	// Tree is the synced tree object the backfill started from (scripts
	// run from it).
	Tree string `json:"tree,omitempty"`
	// Checks are the data checks run after each partition (checks.go).
	Checks []ChecksFile `json:"checks,omitempty"`

	// Promotion is copy or atomic (bqbackfill.yaml promotion:); "" is copy.
	Promotion config.PromotionMode `json:"promotion,omitempty"`
	// Estimate is what the backfill was expected to process and cost when
	// it started (nil when it could not be estimated).
	Estimate *estimate.Estimate `json:"estimate,omitempty"`
}

// planFields is backfill.Plan without its methods: the stored spec keeps
// the plan's fields as Go encodes them, not Plan.MarshalJSON's display form
// (the CLI's, which cannot be decoded back).
type planFields backfill.Plan

// specJSON is the stored form of a Spec.
type specJSON struct {
	planFields
	SQL       string               `json:"sql,omitempty"`
	Tree      string               `json:"tree,omitempty"`
	Checks    []ChecksFile         `json:"checks,omitempty"`
	Promotion config.PromotionMode `json:"promotion,omitempty"`
	Estimate  *estimate.Estimate   `json:"estimate,omitempty"`
}

// MarshalJSON encodes the spec as stored in the ledger.
func (s Spec) MarshalJSON() ([]byte, error) {
	return json.Marshal(specJSON{planFields: planFields(s.Plan), SQL: s.SQL, Tree: s.Tree, Checks: s.Checks, Promotion: s.Promotion, Estimate: s.Estimate})
}

// UnmarshalJSON decodes a spec stored by MarshalJSON.
func (s *Spec) UnmarshalJSON(data []byte) error {
	var j specJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*s = Spec{Plan: backfill.Plan(j.planFields), SQL: j.SQL, Tree: j.Tree, Checks: j.Checks, Promotion: j.Promotion, Estimate: j.Estimate}
	return nil
}

// ID is the backfill's ledger id.
func (s *Spec) ID() string { return BackfillID(s.Table, s.EntryDate.String()) }

// IsScript reports whether a query.py script computes the partitions.
func (s *Spec) IsScript() bool { return s.Query.Kind == backfill.QueryPython }

// MirrorIAM reports whether production's IAM policy is copied onto staging
// and the backup: in production (not under a target), for SQL tables (a
// script creates its staging table itself).
func (s *Spec) MirrorIAM() bool { return s.Target == "" && !s.IsScript() }

// SeedID is the partition copied from production into staging before the
// first partition of a chain ("" when none).
func (s *Spec) SeedID() string {
	if s.Seed == nil {
		return ""
	}
	return s.Seed.ID
}

// PartitionID is a partition's ledger id: its decorator, or WholeTableID.
func PartitionID(p backfill.Partition) string {
	if p.ID == "" {
		return WholeTableID
	}
	return p.ID
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
func (s *Spec) Partition(id string) (backfill.Partition, int, bool) {
	for i, p := range s.Partitions {
		if PartitionID(p) == id {
			return p, i, true
		}
	}
	return backfill.Partition{}, -1, false
}

func encodeSpec(s *Spec) (json.RawMessage, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode spec of %s: %w", s.ID(), err)
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
		"bqbackfill_entry": labelValue(s.EntryDate.String()),
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
	id := "bqbackfill_" + labelValue(s.Table.Dataset+"__"+s.Table.Table+"_"+s.EntryDate.String()+"_"+step)
	return strings.ReplaceAll(id, "-", "_")
}
