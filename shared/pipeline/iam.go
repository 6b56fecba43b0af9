package pipeline

import (
	"context"
	"fmt"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// mirrorIAM gives dst the IAM bindings of src plus src's dataset access
// entries turned into bindings (reference §5.4), merged with what dst
// already has rather than replacing it.
func (p *Pipeline) mirrorIAM(ctx context.Context, src, dst warehouse.TableRef) error {
	pol, err := p.Warehouse.TableIAM(ctx, src)
	if err != nil {
		return fmt.Errorf("read IAM policy of %s: %w", src, err)
	}
	access, err := p.Warehouse.DatasetAccess(ctx, src.Project, src.Dataset)
	if err != nil {
		return fmt.Errorf("read access of dataset %s.%s: %w", src.Project, src.Dataset, err)
	}
	existing, err := p.Warehouse.TableIAM(ctx, dst)
	if err != nil {
		return fmt.Errorf("read IAM policy of %s: %w", dst, err)
	}
	m := warehouse.MirrorPolicy(pol, access, existing)
	for _, s := range m.Skipped {
		// Granted on the source but impossible on a table: left out
		// rather than failing the whole policy write (and the start).
		p.log().Warn("IAM binding not mirrored", "table", dst.String(), "source", src.String(), "role", s.Role, "member", s.Member, "reason", s.Reason)
	}
	merged, added := m.Merged, m.Added
	if len(added) == 0 {
		return nil
	}
	if err := p.Warehouse.SetTableIAM(ctx, dst, merged); err != nil {
		return fmt.Errorf("set IAM policy of %s: %w", dst, err)
	}
	for _, b := range added {
		p.log().Info("mirrored IAM binding", "table", dst.String(), "role", b.Role, "members", b.Members)
	}
	return nil
}
