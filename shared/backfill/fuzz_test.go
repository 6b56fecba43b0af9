package backfill

import (
	"bytes"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the backfill.yaml parser (seed corpus:
// testdata/fuzz/FuzzParse, files of the bigquery-etl corpus and of the
// rule fixtures). It must never panic, every problem must name its rule
// and file, and an entry that parsed cleanly must come back unchanged from
// its canonical text, which is what create and Marshal write.
func FuzzParse(f *testing.F) {
	f.Add([]byte("2024-01-02:\n  start_date: 2024-01-01\n  end_date: 2024-01-01\n  reason: r\n  watchers:\n  - a@b.c\n  status: Initiate\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, errs := Parse(data, "backfill.yaml")
		if file == nil {
			t.Fatal("Parse returned no file")
		}
		for _, e := range errs {
			if e.Rule == "" || e.File != "backfill.yaml" || e.Message == "" || e.Line < 0 {
				t.Fatalf("problem without rule, file or message: %+v", e)
			}
		}
		if len(errs) > 0 || file.Broken() {
			return
		}
		for _, e := range file.Entries {
			text := e.Canonical()
			again, errs := Parse(text, "canonical.yaml")
			if len(errs) > 0 || len(again.Entries) != 1 {
				t.Fatalf("canonical text of entry %s does not parse back (%v):\n%s", e.Key(), errs, text)
			}
			if got := again.Entries[0].Canonical(); !bytes.Equal(got, text) {
				t.Fatalf("entry %s changed on the round trip:\n%s\nbecame\n%s", e.Key(), text, got)
			}
		}
		if _, err := file.Marshal(); err != nil {
			t.Fatalf("a cleanly parsed file cannot be marshalled: %v", err)
		}
	})
}
