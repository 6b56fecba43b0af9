package config

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// PromotionMode is how staged partitions replace production's.
type PromotionMode string

const (
	// PromoteCopy replaces each partition with its own WRITE_TRUNCATE copy
	// job: free, paced to the table's rate, readers may see a mix while it
	// runs.
	PromoteCopy PromotionMode = "copy"
	// PromoteAtomic replaces up to 4,000 partitions per multi-statement
	// transaction (DELETE the partitions, INSERT them from staging): readers
	// see all-old or all-new; billed for the staging bytes read.
	PromoteAtomic PromotionMode = "atomic"
)

// DefaultPricePerTiBUSD is BigQuery's on-demand price ("starting at $6.25
// per TiB", spec/gcp-limits.md §6).
const DefaultPricePerTiBUSD = 6.25

// Promotion is the promotion: setting.
//
//	promotion:
//	  default: copy            # copy | atomic
//	  tables:
//	    project.dataset.table: atomic
type Promotion struct {
	Default PromotionMode
	Tables  map[warehouse.TableRef]PromotionMode
}

// Mode returns the promotion mode of table t.
func (p Promotion) Mode(t warehouse.TableRef) PromotionMode {
	if m, ok := p.Tables[t]; ok {
		return m
	}
	if p.Default == "" {
		return PromoteCopy
	}
	return p.Default
}

// costKeys parse the promotion and cost settings.
var costKeys = map[string]func(s *Settings, v *yaml.Node, name string) error{
	"promotion":              parsePromotion,
	"price_per_tib_usd":      parsePrice,
	"max_bytes_per_backfill": parseMaxBytes,
}

func parseMode(v *yaml.Node, name, what string) (PromotionMode, error) {
	m := PromotionMode(strings.TrimSpace(v.Value))
	if v.Kind != yaml.ScalarNode || (m != PromoteCopy && m != PromoteAtomic) {
		return "", fmt.Errorf("%s:%d: %s must be copy or atomic, got %q", name, v.Line, what, v.Value)
	}
	return m, nil
}

func parsePromotion(s *Settings, v *yaml.Node, name string) error {
	if v.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: promotion must be a mapping with default (copy | atomic) and tables (table: copy | atomic)", name, v.Line)
	}
	p := Promotion{Default: PromoteCopy}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		switch k.Value {
		case "default":
			m, err := parseMode(val, name, "promotion.default")
			if err != nil {
				return err
			}
			p.Default = m
		case "tables":
			if val.Kind == yaml.ScalarNode && val.Tag == "!!null" {
				continue
			}
			if val.Kind != yaml.MappingNode {
				return fmt.Errorf("%s:%d: promotion.tables must be a mapping of project.dataset.table: copy | atomic", name, val.Line)
			}
			p.Tables = map[warehouse.TableRef]PromotionMode{}
			for j := 0; j+1 < len(val.Content); j += 2 {
				tk, tv := val.Content[j], val.Content[j+1]
				ref, err := warehouse.ParseTableRef(tk.Value)
				if err != nil {
					return fmt.Errorf("%s:%d: promotion.tables: %w", name, tk.Line, err)
				}
				if _, dup := p.Tables[ref]; dup {
					return fmt.Errorf("%s:%d: promotion.tables: %s appears twice", name, tk.Line, ref)
				}
				m, err := parseMode(tv, name, "promotion.tables."+ref.String())
				if err != nil {
					return err
				}
				p.Tables[ref] = m
			}
		default:
			return fmt.Errorf("%s:%d: unknown key %q in promotion; known keys: default, tables", name, k.Line, k.Value)
		}
	}
	s.Promotion = p
	return nil
}

func parsePrice(s *Settings, v *yaml.Node, name string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(v.Value), 64)
	if v.Kind != yaml.ScalarNode || (v.Tag != "!!int" && v.Tag != "!!float") || err != nil || f < 0 {
		return fmt.Errorf("%s:%d: price_per_tib_usd must be a number of US dollars >= 0, got %q", name, v.Line, v.Value)
	}
	s.PricePerTiBUSD = f
	return nil
}

func parseMaxBytes(s *Settings, v *yaml.Node, name string) error {
	n, err := strconv.ParseInt(strings.TrimSpace(v.Value), 10, 64)
	if v.Kind != yaml.ScalarNode || v.Tag != "!!int" || err != nil || n <= 0 {
		return fmt.Errorf("%s:%d: max_bytes_per_backfill must be a positive whole number of bytes, got %q", name, v.Line, v.Value)
	}
	s.MaxBytesPerBackfill = n
	return nil
}
