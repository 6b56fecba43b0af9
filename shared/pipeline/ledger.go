package pipeline

import (
	"context"
	"encoding/json"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
)

// Ledger is the state store the pipeline needs (shared/ledger.Store
// implements it; tests wrap it to inject crashes between steps).
type Ledger interface {
	Create(ctx context.Context, b *ledger.Backfill) error
	Get(ctx context.Context, id string) (*ledger.Backfill, error)
	Update(ctx context.Context, id string, fn func(*ledger.Backfill) error) (*ledger.Backfill, error)
	Transition(ctx context.Context, id string, from []ledger.State, to ledger.State, mutate func(*ledger.Backfill) error) (bool, error)
	List(ctx context.Context) ([]*ledger.Backfill, error)
	ListTable(ctx context.Context, table string) ([]*ledger.Backfill, error)
	ListState(ctx context.Context, st ledger.State) ([]*ledger.Backfill, error)
	Spec(ctx context.Context, id string) (json.RawMessage, error)
	ReplaceSpec(ctx context.Context, id string, raw json.RawMessage) error

	GetPartition(ctx context.Context, id, partition string) (*ledger.PartitionRecord, error)
	UpdatePartition(ctx context.Context, id, partition string, fn func(*ledger.PartitionRecord) error) (*ledger.PartitionRecord, error)
	UpdatePartitionFrom(ctx context.Context, id, partition string, cur *ledger.PartitionRecord, fn func(*ledger.PartitionRecord) error) (*ledger.PartitionRecord, error)
	ListPartitions(ctx context.Context, id string) ([]*ledger.PartitionRecord, error)
	ReadPartitions(ctx context.Context, id string, partitions []string) ([]*ledger.PartitionRecord, error)
	PartitionEntries(ctx context.Context, id string) ([]ledger.PartitionEntry, error)
	PartitionStates(ctx context.Context, id string) (map[string]ledger.PartitionState, error)
	PartitionProgress(ctx context.Context, id string) (map[string]ledger.PartitionState, time.Time, error)
	PartitionSummary(ctx context.Context, id string) (ledger.Summary, error)

	GetSwapStep(ctx context.Context, id, step string) (*ledger.SwapStep, error)
	UpdateSwapStep(ctx context.Context, id, step string, fn func(*ledger.SwapStep) error) (*ledger.SwapStep, error)
	ListSwapSteps(ctx context.Context, id string) ([]*ledger.SwapStep, error)
}

var _ Ledger = (*ledger.Store)(nil)
