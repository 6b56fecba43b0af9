package terraform_test

// cloudbuild.yaml cannot run here (no Docker daemon, no Cloud Build), so
// this checks what can be checked offline: it parses, its steps are
// ordered, its substitutions are declared, and every path, package, flag,
// Dockerfile and terraform variable it names exists.

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type buildStep struct {
	ID         string   `yaml:"id"`
	Name       string   `yaml:"name"`
	Entrypoint string   `yaml:"entrypoint"`
	Args       []string `yaml:"args"`
	Env        []string `yaml:"env"`
	Dir        string   `yaml:"dir"`
	WaitFor    []string `yaml:"waitFor"`
}

type buildConfig struct {
	Substitutions map[string]string `yaml:"substitutions"`
	Options       map[string]any    `yaml:"options"`
	Timeout       string            `yaml:"timeout"`
	Steps         []buildStep       `yaml:"steps"`
}

// builtinSubstitutions are the ones Cloud Build provides.
var builtinSubstitutions = []string{
	"PROJECT_ID", "BUILD_ID", "PROJECT_NUMBER", "LOCATION", "TRIGGER_NAME", "COMMIT_SHA",
	"REVISION_ID", "SHORT_SHA", "REPO_NAME", "REPO_FULL_NAME", "BRANCH_NAME", "TAG_NAME",
	"REF_NAME", "TRIGGER_BUILD_CONFIG_PATH", "SERVICE_ACCOUNT_EMAIL", "SERVICE_ACCOUNT",
}

func loadBuild(t *testing.T) (string, *buildConfig) {
	t.Helper()
	root := repoRoot(t)
	src, err := os.ReadFile(filepath.Join(root, "cloudbuild.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg buildConfig
	dec := yaml.NewDecoder(strings.NewReader(string(src)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("cloudbuild.yaml: %v", err)
	}
	if len(cfg.Steps) == 0 {
		t.Fatal("cloudbuild.yaml has no steps")
	}
	return root, &cfg
}

// text is everything a step hands to its container.
func (s buildStep) text() string {
	return strings.Join(append(append([]string{s.Name, s.Entrypoint, s.Dir}, s.Args...), s.Env...), "\n")
}

// substitute applies the build's substitution defaults and un-escapes $$,
// giving what the step's shell sees with the default settings.
func substitute(s string, subs map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case s[i+1] == '$':
			b.WriteByte('$')
			i++
		case s[i+1] == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+end]
			if v, ok := subs[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+end+1])
			}
			i += end
		default:
			m := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`).FindString(s[i+1:])
			if v, ok := subs[m]; ok && m != "" {
				b.WriteString(v)
				i += len(m)
			} else {
				b.WriteByte('$')
			}
		}
	}
	return b.String()
}

// references are the substitutions a string uses ($$ is a literal $).
func references(s string) []string {
	var out []string
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			continue
		}
		switch {
		case s[i+1] == '$':
			i++
		case s[i+1] == '{':
			if end := strings.IndexByte(s[i:], '}'); end > 0 {
				out = append(out, s[i+2:i+end])
				i += end
			}
		default:
			if m := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`).FindString(s[i+1:]); m != "" {
				out = append(out, m)
				i += len(m)
			}
		}
	}
	return out
}

func TestCloudBuildSteps(t *testing.T) {
	_, cfg := loadBuild(t)
	ids := map[string]bool{}
	for i, s := range cfg.Steps {
		if s.ID == "" || s.Name == "" {
			t.Errorf("step %d: want both id and name (image), got id %q name %q", i, s.ID, s.Name)
		}
		if ids[s.ID] {
			t.Errorf("step %q: duplicate id", s.ID)
		}
		for _, w := range s.WaitFor {
			if w != "-" && !ids[w] {
				t.Errorf("step %q waits for %q, which is not an earlier step", s.ID, w)
			}
		}
		ids[s.ID] = true
	}
	if cfg.Options["logging"] == nil {
		t.Error("options.logging is not set (a trigger with a user-managed service account requires it)")
	}
}

func TestCloudBuildSubstitutions(t *testing.T) {
	_, cfg := loadBuild(t)
	used := map[string]bool{}
	for _, s := range cfg.Steps {
		for _, ref := range references(s.text()) {
			used[ref] = true
			_, declared := cfg.Substitutions[ref]
			switch {
			case strings.HasPrefix(ref, "_") && !declared:
				t.Errorf("step %q uses ${%s}, which substitutions does not declare", s.ID, ref)
			case !strings.HasPrefix(ref, "_") && !slices.Contains(builtinSubstitutions, ref):
				t.Errorf("step %q uses $%s, which is no Cloud Build substitution (write $$%s for a shell variable)", s.ID, ref, ref)
			}
		}
	}
	for name := range cfg.Substitutions {
		if !strings.HasPrefix(name, "_") {
			t.Errorf("substitution %s must start with _", name)
		}
		if !used[name] {
			t.Errorf("substitution %s is declared but no step uses it (Cloud Build rejects unmatched substitutions)", name)
		}
	}
}

// goPackageRE matches a package path argument such as ./cmd/bqbackfill.
var goPackageRE = regexp.MustCompile(`(?:^|\s)(\./[a-z][a-z0-9_/]*)`)

func isMainPackage(t *testing.T, root, rel string) bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root, filepath.FromSlash(rel), "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if regexp.MustCompile(`(?m)^package main\b`).Match(src) && regexp.MustCompile(`(?m)^func main\(\)`).Match(src) {
			return true
		}
	}
	return false
}

func TestCloudBuildReferencesExist(t *testing.T) {
	root, cfg := loadBuild(t)
	var all strings.Builder
	for _, s := range cfg.Steps {
		text := substitute(s.text(), cfg.Substitutions)
		all.WriteString(text + "\n")
		for _, m := range goPackageRE.FindAllStringSubmatch(text, -1) {
			rel := strings.TrimPrefix(m[1], "./")
			if st, err := os.Stat(filepath.Join(root, rel)); err != nil || !st.IsDir() {
				t.Errorf("step %q names %s, which is not a directory of the repository", s.ID, m[1])
			}
		}
		// go run / go build targets are commands.
		for _, m := range regexp.MustCompile(`go (?:run|build)[^\n]*?\s(\./[a-z][a-z0-9_/]*)`).FindAllStringSubmatch(text, -1) {
			if !isMainPackage(t, root, strings.TrimPrefix(m[1], "./")) {
				t.Errorf("step %q runs %s, which is not a main package", s.ID, m[1])
			}
		}
		// bqbackfill subcommands and their flags: cmd/bqbackfill's
		// TestCloudBuildCommands checks them against the command tree.
		// Dockerfiles.
		for _, m := range regexp.MustCompile(`(?:--file[= ]|-f )(\S+)`).FindAllStringSubmatch(text, -1) {
			if _, err := os.Stat(filepath.Join(root, m[1])); err != nil {
				t.Errorf("step %q builds with %s, which does not exist", s.ID, m[1])
			}
		}
	}
	text := all.String()
	for _, want := range []string{".ci/run", "functions/server/Dockerfile", "jobs/worker/Dockerfile", "go run ./cmd/bqbackfill sync"} {
		if !strings.Contains(text, want) {
			t.Errorf("cloudbuild.yaml does not run %q", want)
		}
	}
}

// dockerfile is the parts of a Dockerfile the checks use.
type dockerfile struct {
	stages []string // base image of each FROM
	runs   []string
	copies [][]string // COPY sources (not --from)
}

func readDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var d dockerfile
	var line string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || l == "" {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			line += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		line += l
		fields := strings.Fields(line)
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			d.stages = append(d.stages, fields[1])
		case "RUN":
			d.runs = append(d.runs, line)
		case "COPY":
			args := fields[1:]
			if !strings.HasPrefix(args[0], "--from") {
				d.copies = append(d.copies, args[:len(args)-1])
			}
		}
		line = ""
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDockerfiles(t *testing.T) {
	root := repoRoot(t)
	for _, tc := range []struct {
		file, pkg  string
		finalBase  *regexp.Regexp
		finalWhy   string
		staticOnly bool
	}{
		{"functions/server/Dockerfile", "./functions/server", regexp.MustCompile(`^gcr\.io/distroless/static`), "a distroless static base", true},
		{"jobs/worker/Dockerfile", "./jobs/worker", regexp.MustCompile(`^python:3`), "a python3 base (query.py backfills run python3)", true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			d := readDockerfile(t, filepath.Join(root, tc.file))
			if len(d.stages) < 2 {
				t.Fatalf("want a multi-stage build, have %d stages", len(d.stages))
			}
			if !strings.HasPrefix(d.stages[0], "golang:1.26") {
				t.Errorf("build stage from %q, want golang:1.26", d.stages[0])
			}
			if final := d.stages[len(d.stages)-1]; !tc.finalBase.MatchString(final) {
				t.Errorf("final stage from %q, want %s", final, tc.finalWhy)
			}
			built := false
			for _, r := range d.runs {
				if strings.Contains(r, "go build") && regexp.MustCompile(`\s`+regexp.QuoteMeta(tc.pkg)+`(\s|$)`).MatchString(r) {
					built = true
					if tc.staticOnly && !strings.Contains(r, "CGO_ENABLED=0") {
						t.Errorf("%q must build with CGO_ENABLED=0: the image has no C library for DuckDB and needs none", r)
					}
				}
			}
			if !built {
				t.Errorf("no RUN go build ... %s", tc.pkg)
			}
			if !isMainPackage(t, root, strings.TrimPrefix(tc.pkg, "./")) {
				t.Errorf("%s is not a main package", tc.pkg)
			}
			for _, c := range d.copies {
				for _, src := range c {
					if strings.HasPrefix(src, "--") {
						continue
					}
					if _, err := os.Stat(filepath.Join(root, src)); err != nil {
						t.Errorf("COPY %s: not in the repository (the build context is its root)", src)
					}
				}
			}
		})
	}
}

// TestCloudBuildDeploy checks the terraform step against terraform/: the
// environment files it selects exist, the variables it passes are
// declared, and together with each environment's tfvars they set every
// variable that has no default.
func TestCloudBuildDeploy(t *testing.T) {
	root, cfg := loadBuild(t)
	tf := loadConfig(t)
	var deploy string
	for _, s := range cfg.Steps {
		if strings.Contains(s.text(), "terraform") && strings.Contains(s.text(), " apply ") {
			deploy = s.text()
		}
	}
	if deploy == "" {
		t.Fatal("no step runs terraform apply")
	}
	if !strings.Contains(deploy, "-chdir=terraform") {
		t.Error("the deploy step does not run terraform in terraform/ (-chdir=terraform)")
	}
	passed := map[string]bool{}
	for _, m := range regexp.MustCompile(`-var=([a-z_]+)=`).FindAllStringSubmatch(deploy, -1) {
		passed[m[1]] = true
		if tf.root.variables[m[1]] == nil {
			t.Errorf("the deploy step passes -var=%s, which terraform/variables.tf does not declare", m[1])
		}
	}
	for _, m := range regexp.MustCompile(`(?:-var-file|-backend-config)=(environments/\S+)`).FindAllStringSubmatch(deploy, -1) {
		for _, env := range environmentNames {
			subs := map[string]string{}
			for k, v := range cfg.Substitutions {
				subs[k] = v
			}
			subs["_ENV"] = env
			path := substitute(m[1], subs)
			if _, err := os.Stat(filepath.Join(root, "terraform", path)); err != nil {
				t.Errorf("with _ENV=%s the deploy step reads terraform/%s, which does not exist", env, path)
			}
		}
	}
	for _, env := range environmentNames {
		vals, err := readTFVars(filepath.Join(root, "terraform", "environments", env+".tfvars"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range sortedKeys(tf.root.variables) {
			if tf.root.variables[name].def == nil && !hasKey(vals, name) && !passed[name] {
				t.Errorf("var.%s has no default, environments/%s.tfvars does not set it, and cloudbuild.yaml does not pass it", name, env)
			}
		}
	}
}
