package config

import (
	"fmt"
	"regexp"

	"gopkg.in/yaml.v3"
)

// script_env: a query.py gets a clean environment (shared/script.BaseEnv:
// PATH, HOME, locale, Python and Google Cloud client settings, proxies),
// never the rest of bqbackfill's, which may hold secrets. A tree whose
// scripts need more names it here:
//
//	script_env:
//	- MY_SERVICE_URL
//	- MY_FEATURE_FLAGS_*     # a trailing * allows every name with that prefix
func init() {
	costKeys["script_env"] = parseScriptEnv
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*\*?$`)

func parseScriptEnv(s *Settings, v *yaml.Node, name string) error {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		return fmt.Errorf("%s:%d: script_env must be a list of environment variable names (a trailing * allows a prefix)", name, v.Line)
	}
	seen := map[string]bool{}
	var names []string
	for _, n := range v.Content {
		if n.Value == "*" {
			return fmt.Errorf("%s:%d: script_env: \"*\" would pass bqbackfill's whole environment; name the variables", name, n.Line)
		}
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" || !envNameRE.MatchString(n.Value) {
			return fmt.Errorf("%s:%d: script_env: %q is not an environment variable name (letters, digits and _, not starting with a digit; a trailing * allows a prefix)", name, n.Line, n.Value)
		}
		if seen[n.Value] {
			return fmt.Errorf("%s:%d: script_env: %q is listed twice", name, n.Line, n.Value)
		}
		seen[n.Value] = true
		names = append(names, n.Value)
	}
	s.ScriptEnv = names
	return nil
}
