package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestCloudBuildCommands checks that every `go run ./cmd/bqbackfill X
// --flag` in cloudbuild.yaml names a command and flags the command tree
// has (terraform/ checks the rest of the file).
func TestCloudBuildCommands(t *testing.T) {
	data, err := os.ReadFile("../../cloudbuild.yaml")
	if err != nil {
		t.Fatal(err)
	}
	root := newRootCmd(IO{})
	calls := regexp.MustCompile(`go run \./cmd/bqbackfill ([a-z-]+)((?: +--?[a-z_-]+(?:[ =](?:"[^"]*"|\S+))?)*)`).FindAllStringSubmatch(string(data), -1)
	if len(calls) == 0 {
		t.Fatal("cloudbuild.yaml runs no bqbackfill command; this test looks for `go run ./cmd/bqbackfill`")
	}
	for _, m := range calls {
		cmd, _, err := root.Find([]string{m[1]})
		if err != nil || cmd == root {
			t.Errorf("cloudbuild.yaml runs `bqbackfill %s`, which is not a command", m[1])
			continue
		}
		for _, f := range regexp.MustCompile(`(?:^|\s)--?([a-z_-]+)`).FindAllStringSubmatch(m[2], -1) {
			if cmd.Flags().Lookup(strings.TrimLeft(f[1], "-")) == nil {
				t.Errorf("cloudbuild.yaml passes --%s to `bqbackfill %s`, which has no such flag", f[1], m[1])
			}
		}
	}
}
