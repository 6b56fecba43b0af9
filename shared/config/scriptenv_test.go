package config

import (
	"slices"
	"strings"
	"testing"
)

func TestScriptEnv(t *testing.T) {
	tests := []struct {
		yaml string
		want []string
		err  string
	}{
		{"", nil, ""},
		{"script_env:\n", nil, ""},
		{"script_env:\n- MY_URL\n- FLAGS_*\n", []string{"MY_URL", "FLAGS_*"}, ""},
		{"script_env: MY_URL\n", nil, "x.yaml:1: script_env must be a list"},
		{"script_env:\n- 1ABC\n", nil, `x.yaml:2: script_env: "1ABC" is not an environment variable name`},
		{"script_env:\n- A=B\n", nil, `"A=B" is not an environment variable name`},
		{"script_env:\n- '*'\n", nil, `would pass bqbackfill's whole environment`},
		{"script_env:\n- A\n- A\n", nil, `x.yaml:3: script_env: "A" is listed twice`},
		{"script_env:\n- [A]\n", nil, "is not an environment variable name"},
	}
	for _, tc := range tests {
		s, err := Parse([]byte(tc.yaml), "x.yaml")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.yaml, err)
			continue
		}
		if !slices.Equal(s.ScriptEnv, tc.want) {
			t.Errorf("%q: ScriptEnv %q, want %q", tc.yaml, s.ScriptEnv, tc.want)
		}
	}
}
