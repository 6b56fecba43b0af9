package local

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

//go:embed demo/sql
var demoTree embed.FS

// DemoTable is the table the demo backfills.
var DemoTable = warehouse.TableRef{Project: "moz-fx-data-shared-prod", Dataset: "telemetry_derived", Table: "daily_active_users_v1"}

// demoSource is the live events table the demo's query reads.
var demoSource = warehouse.TableRef{Project: "moz-fx-data-shared-prod", Dataset: "telemetry_live", Table: "events_v1"}

// DemoDays is how many days of data the demo has (ending yesterday).
const DemoDays = 14

var demoCountries = []string{"DE", "FR", "US"}

// WriteDemoTree writes the demo's sql/ tree under dir and a backfill.yaml
// entry created today that recomputes the last DemoDays days, excluding one.
// It returns the tree's directory (dir/sql).
func WriteDemoTree(dir string, today civil.Date) (string, error) {
	root, err := fs.Sub(demoTree, "demo")
	if err != nil {
		return "", err
	}
	if err := os.CopyFS(dir, root); err != nil {
		return "", fmt.Errorf("write demo tree: %w", err)
	}
	sqlDir := filepath.Join(dir, "sql")
	entry := fmt.Sprintf(`%s:
  start_date: %s
  end_date: %s
  excluded_dates:
  - %s
  reason: Exclude bot traffic from daily active users (DEMO-1). The excluded day was
    already fixed by hand.
  watchers:
  - demo@example.com
  status: Initiate
  shredder_mitigation: false
  override_retention_limit: false
  override_depends_on_past_end_date: false
  ignore_date_partition_offset: false
`, today, today.AddDays(-DemoDays), today.AddDays(-1), today.AddDays(-7))
	p := filepath.Join(sqlDir, DemoTable.Project, DemoTable.Dataset, DemoTable.Table, "backfill.yaml")
	if err := os.WriteFile(p, []byte(entry), 0o644); err != nil {
		return "", fmt.Errorf("write demo entry: %w", err)
	}
	return sqlDir, nil
}

// SetDemoStatus rewrites the demo entry's status (Initiate -> Complete), as
// the user's second pull request does.
func SetDemoStatus(sqlDir, status string) error {
	p := filepath.Join(sqlDir, DemoTable.Project, DemoTable.Dataset, DemoTable.Table, "backfill.yaml")
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "  status: ") {
			lines[i] = "  status: " + status
		}
	}
	return os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o644)
}

// LoadDemoData creates the demo's source table (events, some from bots)
// and its production table as the buggy first version computed it (bots
// counted), for the DemoDays days ending yesterday.
func LoadDemoData(ctx context.Context, w warehouse.Warehouse, today civil.Date) error {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE SCHEMA IF NOT EXISTS `%s.%s`;\n", demoSource.Project, demoSource.Dataset)
	fmt.Fprintf(&b, "CREATE SCHEMA IF NOT EXISTS `%s.%s`;\n", DemoTable.Project, DemoTable.Dataset)
	fmt.Fprintf(&b, "CREATE TABLE `%s` (submission_date DATE, client_id STRING, country STRING, is_bot BOOL) PARTITION BY submission_date;\n", demoSource)
	fmt.Fprintf(&b, "CREATE TABLE `%s` (submission_date DATE, country STRING, dau INT64) PARTITION BY submission_date CLUSTER BY country;\n", DemoTable)
	var rows []string
	for i := DemoDays; i >= 1; i-- {
		d := today.AddDays(-i)
		for ci, c := range demoCountries {
			humans := 3 + (d.Day+ci)%4
			bots := 1 + (d.Day+2*ci)%3
			for h := 0; h < humans; h++ {
				rows = append(rows, fmt.Sprintf("(DATE '%s', 'client-%s-%d', '%s', FALSE)", d, c, h, c))
			}
			for k := 0; k < bots; k++ {
				rows = append(rows, fmt.Sprintf("(DATE '%s', 'bot-%s-%d', '%s', TRUE)", d, c, k, c))
			}
		}
	}
	fmt.Fprintf(&b, "INSERT INTO `%s` (submission_date, client_id, country, is_bot) VALUES\n%s;\n", demoSource, strings.Join(rows, ",\n"))
	// The first version of the query forgot to drop bots.
	fmt.Fprintf(&b, "INSERT INTO `%s` (submission_date, country, dau) SELECT submission_date, country, COUNT(DISTINCT client_id) FROM `%s` GROUP BY submission_date, country;\n", DemoTable, demoSource)
	if _, err := w.Query(ctx, warehouse.QueryJob{SQL: b.String()}); err != nil {
		return fmt.Errorf("load demo data: %w", err)
	}
	return nil
}
