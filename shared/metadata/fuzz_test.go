package metadata

import (
	"errors"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the metadata.yaml and schema.yaml
// parsers (seed corpus: testdata/fuzz/FuzzParse, files of the bigquery-etl
// corpus). They must never panic, and every failure must be a *ParseError
// that names the file and says what is wrong.
func FuzzParse(f *testing.F) {
	f.Add([]byte("friendly_name: T\nbigquery:\n  time_partitioning:\n    type: day\n    field: submission_date\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(what string, err error) {
			if err == nil {
				return
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("%s: error %T %v, want a *ParseError", what, err, err)
			}
			if pe.Path != "x.yaml" || len(pe.Problems) == 0 {
				t.Fatalf("%s: error %+v does not name the file or has no problem", what, pe)
			}
			for _, p := range pe.Problems {
				if p.Message == "" {
					t.Fatalf("%s: a problem without a message: %+v", what, pe)
				}
			}
		}
		m, err := Parse(data, "x.yaml")
		check("metadata", err)
		if err == nil && m == nil {
			t.Fatal("Parse returned neither metadata nor an error")
		}
		_, err = ParseSchema(data, "x.yaml")
		check("schema", err)
	})
}
