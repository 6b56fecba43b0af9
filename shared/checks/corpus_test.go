package checks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// CorpusFiles returns the real checks.sql files of the vendored
// bigquery-etl corpus, keyed by table.
func corpusFiles(t *testing.T) map[warehouse.TableRef]string {
	t.Helper()
	root := repoRoot(t)
	files := map[warehouse.TableRef]string{}
	base := filepath.Join(root, "testdata", "corpus", "bigquery-etl", "sql")
	err := filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "checks.sql" {
			return err
		}
		rel, _ := filepath.Rel(base, filepath.Dir(p))
		parts := strings.Split(filepath.ToSlash(rel), "/")
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files[warehouse.TableRef{Project: parts[0], Dataset: parts[1], Table: parts[2]}] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}
