package config

import (
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

func TestPromotionAndCost(t *testing.T) {
	prod := warehouse.TableRef{Project: "p", Dataset: "d", Table: "t"}
	other := warehouse.TableRef{Project: "p", Dataset: "d", Table: "u"}
	cases := []struct {
		name      string
		src       string
		wantErr   string
		mode      PromotionMode // of prod
		otherMode PromotionMode
		price     float64
		maxBytes  int64
	}{
		{name: "defaults", src: "", mode: PromoteCopy, otherMode: PromoteCopy, price: 6.25},
		{name: "table override", src: "promotion:\n  default: copy\n  tables:\n    p.d.t: atomic\n", mode: PromoteAtomic, otherMode: PromoteCopy, price: 6.25},
		{name: "default atomic", src: "promotion:\n  default: atomic\n  tables:\n    p.d.t: copy\n", mode: PromoteCopy, otherMode: PromoteAtomic, price: 6.25},
		{name: "price and guard", src: "price_per_tib_usd: 5\nmax_bytes_per_backfill: 1099511627776\n", mode: PromoteCopy, otherMode: PromoteCopy, price: 5, maxBytes: 1 << 40},
		{name: "bad mode", src: "promotion:\n  default: swap\n", wantErr: `bqbackfill.yaml:2: promotion.default must be copy or atomic, got "swap"`},
		{name: "bad table mode", src: "promotion:\n  tables:\n    p.d.t: fast\n", wantErr: `promotion.tables.p.d.t must be copy or atomic, got "fast"`},
		{name: "bad table name", src: "promotion:\n  tables:\n    t: atomic\n", wantErr: "bqbackfill.yaml:3: promotion.tables: qualified table name"},
		{name: "unknown promotion key", src: "promotion:\n  mode: atomic\n", wantErr: `unknown key "mode" in promotion; known keys: default, tables`},
		{name: "promotion not a mapping", src: "promotion: atomic\n", wantErr: "promotion must be a mapping"},
		{name: "negative price", src: "price_per_tib_usd: -1\n", wantErr: "price_per_tib_usd must be a number of US dollars >= 0"},
		{name: "price text", src: "price_per_tib_usd: cheap\n", wantErr: "price_per_tib_usd must be a number"},
		{name: "guard zero", src: "max_bytes_per_backfill: 0\n", wantErr: "max_bytes_per_backfill must be a positive whole number of bytes"},
		{name: "guard float", src: "max_bytes_per_backfill: 1.5\n", wantErr: "max_bytes_per_backfill must be a positive whole number of bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Parse([]byte(c.src), FileName)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Promotion.Mode(prod); got != c.mode {
				t.Errorf("mode of %s = %s, want %s", prod, got, c.mode)
			}
			if got := s.Promotion.Mode(other); got != c.otherMode {
				t.Errorf("mode of %s = %s, want %s", other, got, c.otherMode)
			}
			if s.PricePerTiBUSD != c.price || s.MaxBytesPerBackfill != c.maxBytes {
				t.Errorf("price %v, guard %d; want %v, %d", s.PricePerTiBUSD, s.MaxBytesPerBackfill, c.price, c.maxBytes)
			}
		})
	}
}
