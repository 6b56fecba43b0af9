package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// SwapStep is the record of one completion step (swap/<name>.json): names
// such as "backup", "copy-<partition>", "delete-staging". A step's name is
// one object-name segment, so it has no "/".
type SwapStep struct {
	// Name is the step's name.
	Name string `json:"name"`
	// Done is set once the step's effect is in the warehouse.
	Done bool `json:"done"`
	// JobID is the warehouse job that did (or is doing) it.
	JobID string `json:"job_id,omitempty"`
	// At is when it was done (or last attempted).
	At time.Time `json:"at,omitzero"`
	// Error is the last attempt's error ("" if none).
	Error string `json:"error,omitempty"`
	// EmptyPartitions, on the backup step, names the partitions of the
	// swap the backup holds no rows of (production had none before the
	// swap); EmptyListed says the list was taken (older records have
	// none). A rollback empties those partitions instead of copying them,
	// without reading the backup's partitions itself.
	EmptyPartitions []string `json:"empty_partitions,omitempty"`
	EmptyListed     bool     `json:"empty_listed,omitempty"`

	// Generation is the GCS generation the record was read or written at
	// (not stored).
	Generation int64 `json:"-"`
}

// GetSwapStep reads one swap step; ErrNotFound if not written.
func (s *Store) GetSwapStep(ctx context.Context, id, step string) (*SwapStep, error) {
	name, err := childName(id, "swap", step)
	if err != nil {
		return nil, err
	}
	data, gen, err := s.read(ctx, name)
	if err != nil {
		return nil, err
	}
	var st SwapStep
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("decode %s: %w", name, err)
	}
	st.Generation = gen
	return &st, nil
}

// UpdateSwapStep applies fn to a swap step (new when missing) with
// compare-and-swap, like Update.
func (s *Store) UpdateSwapStep(ctx context.Context, id, step string, fn func(*SwapStep) error) (*SwapStep, error) {
	name, err := childName(id, "swap", step)
	if err != nil {
		return nil, err
	}
	var st *SwapStep
	gen, err := s.update(ctx, name, true,
		func(data []byte, exists bool) error {
			st = &SwapStep{Name: step}
			if !exists {
				return nil
			}
			return json.Unmarshal(data, st)
		},
		func() error { return fn(st) },
		func() ([]byte, map[string]string, error) {
			data, err := json.Marshal(st)
			return data, nil, err
		})
	if st != nil {
		st.Generation = gen
	}
	if err != nil {
		if errors.Is(err, ErrNoChange) {
			return st, err
		}
		return nil, fmt.Errorf("update swap step %s of %s: %w", step, id, err)
	}
	return st, nil
}

// ListSwapSteps returns the swap steps written so far, by name.
func (s *Store) ListSwapSteps(ctx context.Context, id string) ([]*SwapStep, error) {
	p, err := backfillPrefix(id)
	if err != nil {
		return nil, err
	}
	names, err := s.names(ctx, p+"swap/", func(n string) bool { return strings.HasSuffix(n, ".json") })
	if err != nil {
		return nil, err
	}
	return readEach(ctx, s, len(names), func(i int) (*SwapStep, error) {
		return s.GetSwapStep(ctx, id, strings.TrimSuffix(path.Base(names[i]), ".json"))
	})
}
