package cloudenv

import (
	"slices"
	"testing"
)

// Vars is what terraform/ takes for every variable a component may be
// given: FromEnv reads exactly those.
func TestFromEnvReadsVars(t *testing.T) {
	var read []string
	if _, err := FromEnv(func(name string) (string, bool) {
		read = append(read, name)
		return "", false
	}, nil); err != nil {
		t.Fatal(err)
	}
	slices.Sort(read)
	want := slices.Sorted(slices.Values(Vars))
	if !slices.Equal(read, want) {
		t.Errorf("FromEnv reads %v, Vars lists %v", read, want)
	}
}
