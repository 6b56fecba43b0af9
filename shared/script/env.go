package script

import (
	"runtime"
	"strings"
)

// BaseEnv names the variables of bqbackfill's environment that every script
// receives: what Python and the Google client libraries need to start,
// find packages and certificates, authenticate and reach the network. A
// name ending in "*" is a prefix. Anything else — API keys, tokens,
// passwords in bqbackfill's environment — reaches a script only when the
// tree's bqbackfill.yaml names it in script_env.
var BaseEnv = []string{
	// process basics
	"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "TMP", "TEMP", "TZ", "LANG", "LANGUAGE", "LC_*",
	// Python and its environments
	"PYTHONPATH", "PYTHONHOME", "PYTHONIOENCODING", "PYTHONUTF8", "VIRTUAL_ENV", "CONDA_PREFIX", "PYENV_*",
	// Google Cloud clients: which credentials and project (not the secrets themselves)
	"GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_QUOTA_PROJECT", "CLOUDSDK_CONFIG", "CLOUDSDK_CORE_PROJECT",
	// TLS and proxies
	"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
	// Windows
	"SYSTEMROOT", "SYSTEMDRIVE", "COMSPEC", "PATHEXT", "USERPROFILE", "APPDATA", "LOCALAPPDATA", "WINDIR",
}

// scriptEnv keeps the entries of environ (KEY=VALUE) whose name BaseEnv or
// inherit allows.
func scriptEnv(environ, inherit []string) []string {
	var out []string
	for _, kv := range environ {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			continue
		}
		if allowed(name, BaseEnv) || allowed(name, inherit) {
			out = append(out, kv)
		}
	}
	return out
}

func allowed(name string, patterns []string) bool {
	eq := func(a, b string) bool { return a == b }
	hasPrefix := strings.HasPrefix
	if runtime.GOOS == "windows" { // names are case-insensitive there
		eq = strings.EqualFold
		hasPrefix = func(s, p string) bool { return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) }
	}
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if hasPrefix(name, prefix) {
				return true
			}
		} else if eq(name, p) {
			return true
		}
	}
	return false
}
