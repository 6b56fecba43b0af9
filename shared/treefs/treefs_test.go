package treefs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// hostileDir builds a tree with what a pull request can ship: links inside
// and outside the tree, a FIFO, a file over the limit.
func hostileDir(t *testing.T) string {
	t.Helper()
	outside := filepath.Join(t.TempDir(), "secret.txt")
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(outside, []byte("secret"), 0o600))
	must(os.MkdirAll(filepath.Join(dir, "d"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "d", "a.txt"), []byte("hello"), 0o644))
	must(os.Symlink("a.txt", filepath.Join(dir, "d", "link_in")))
	must(os.Symlink(outside, filepath.Join(dir, "d", "link_out")))
	must(os.Symlink("/dev/zero", filepath.Join(dir, "d", "link_zero")))
	must(os.Symlink("../../nowhere", filepath.Join(dir, "d", "link_up")))
	must(syscall.Mkfifo(filepath.Join(dir, "d", "fifo"), 0o644))
	big, err := os.Create(filepath.Join(dir, "d", "big"))
	must(err)
	must(big.Truncate(MaxFileBytes + 1))
	must(big.Close())
	return dir
}

func TestRefused(t *testing.T) {
	fsys, closer, err := Dir(hostileDir(t))
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	tests := []struct {
		name string
		want error // nil: readable
		data string
	}{
		{"d/a.txt", nil, "hello"},
		{"d/link_in", nil, "hello"},
		{"d/link_out", ErrEscapes, ""},
		{"d/link_zero", ErrEscapes, ""},
		{"d/link_up", ErrEscapes, ""},
		{"d/fifo", ErrNotRegular, ""},
		{"d/big", ErrTooLarge, ""},
	}
	for _, tt := range tests {
		data, err := fs.ReadFile(fsys, tt.name)
		if tt.want == nil {
			if err != nil || string(data) != tt.data {
				t.Errorf("%s: %q, %v", tt.name, data, err)
			}
			continue
		}
		if !errors.Is(err, tt.want) || Describe(err) == "" {
			t.Errorf("%s: error %v, want %v with a description", tt.name, err, tt.want)
		}
		if strings.Contains(string(data), "secret") {
			t.Errorf("%s: read outside the tree", tt.name)
		}
	}
	if d := Describe(errors.New("other")); d != "" {
		t.Errorf("Describe of another error: %q", d)
	}
}

// TestGrowingFile: a file that grows past the limit after Stat fails on
// read instead of being read whole.
func TestGrowingFile(t *testing.T) {
	f := &limited{File: nil, name: "x", left: 0}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := w.Write([]byte("more")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	f.File = r
	if _, err := f.Read(make([]byte, 10)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("read past the limit: %v", err)
	}
}
