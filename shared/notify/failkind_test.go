package notify

import (
	"reflect"
	"testing"
)

// TestAdviseFailures: the failed partitions are counted by kind, in the
// order each kind first appears, a record without a kind counts as
// unknown, and each kind gets FailureAdvice's sentence; Line adds the
// count, as status and a notice with several kinds show it.
func TestAdviseFailures(t *testing.T) {
	const table = "p.d.t"
	advice := func(k FailureKind, n int) KindAdvice {
		return KindAdvice{Kind: k, Count: n, Text: FailureAdvice(k, table)}
	}
	for _, tc := range []struct {
		name  string
		kinds []FailureKind
		want  []KindAdvice
	}{
		{"none", nil, nil},
		{"one kind", []FailureKind{FailureQuery, FailureQuery}, []KindAdvice{advice(FailureQuery, 2)}},
		{"first appearance", []FailureKind{FailureTransient, FailureQuery, FailureTransient, FailureSchema},
			[]KindAdvice{advice(FailureTransient, 2), advice(FailureQuery, 1), advice(FailureSchema, 1)}},
		{"no kind is unknown", []FailureKind{"", FailureUnknown, FailureCheck}, []KindAdvice{advice(FailureUnknown, 2), advice(FailureCheck, 1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := AdviseFailures(tc.kinds, table); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("AdviseFailures(%q) =\n%+v, want\n%+v", tc.kinds, got, tc.want)
			}
		})
	}
	a := advice(FailureSchema, 3)
	if got, want := a.Line(), "3 partition(s) (schema error): "+a.Text; got != want {
		t.Errorf("Line = %q, want %q", got, want)
	}
}
