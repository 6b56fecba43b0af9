package script

import (
	"context"
	"path/filepath"
	"testing"
)

// TestRunCleanEnvironment: a script sees what it needs (BaseEnv), the names
// its tree allows and the Runner's own entries, and nothing else of
// bqbackfill's environment (review: hostile input, item 15).
func TestRunCleanEnvironment(t *testing.T) {
	needPython(t)
	t.Setenv("SECRET_API_KEY", "hunter2")
	t.Setenv("ALLOWED_BY_TREE", "yes")
	t.Setenv("LC_TIME", "C")
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "/creds.json")
	out := filepath.Join(t.TempDir(), "env.json")
	r := &Runner{Env: []string{"FROM_RUNNER=1", "ALLOWED_BY_TREE=overridden"}}
	_, err := r.Run(context.Background(), Spec{Dir: fixture(t, "envdump"), Script: "query.py", Entrypoint: "main", DateArg: "date", Date: day,
		Args: []string{"--out", out}, Inherit: []string{"ALLOWED_BY_TREE", "NOT_SET_ANYWHERE"}})
	if err != nil {
		t.Fatal(err)
	}
	env := readJSON(t, out)
	for name, want := range map[string]any{
		"SECRET_API_KEY":                 nil,
		"NOT_SET_ANYWHERE":               nil,
		"ALLOWED_BY_TREE":                "overridden",
		"FROM_RUNNER":                    "1",
		"LC_TIME":                        "C",
		"GOOGLE_APPLICATION_CREDENTIALS": "/creds.json",
	} {
		if got := env[name]; got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if env["PATH"] == nil {
		t.Errorf("PATH is missing")
	}
}

func TestScriptEnv(t *testing.T) {
	environ := []string{"PATH=/bin", "LC_ALL=C", "LCX=no", "KEY=secret", "MINE=1", "MINE_TOO=2", "=C:=odd", "NOEQUALS"}
	got := scriptEnv(environ, []string{"MINE"})
	want := []string{"PATH=/bin", "LC_ALL=C", "MINE=1"}
	if len(got) != len(want) {
		t.Fatalf("scriptEnv = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("scriptEnv = %q, want %q", got, want)
		}
	}
}
