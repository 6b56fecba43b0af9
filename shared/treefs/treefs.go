// Package treefs is the view of a sql/ tree that every reader uses
// (validate, the scanner, run and sync alike), so a hostile or careless
// tree is handled the same way everywhere: only regular files and
// directories are read, a symbolic link is followed only when it stays
// inside the tree, and no file larger than MaxFileBytes is read.
//
// Git stores symbolic links, so a pull request can ship a backfill.yaml
// that points at /dev/zero, a FIFO or a file outside the checkout; without
// these rules that hangs or exhausts memory, or reads what it should not.
package treefs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// MaxFileBytes bounds every file read from a tree. The largest file of the
// bigquery-etl corpus (a schema.yaml) is about 135 KB; a backfill.yaml is a
// few KB.
const MaxFileBytes = 8 << 20

var (
	// ErrNotRegular is wrapped by Open for a device, FIFO or socket, and by
	// ReadDir for a symbolic link to a directory (not followed, so a tree
	// cannot loop or list a table twice).
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge is wrapped by Open and Read for a file over MaxFileBytes.
	ErrTooLarge = fmt.Errorf("larger than the %d MiB limit for a file of the tree", MaxFileBytes>>20)
	// ErrEscapes is wrapped for a symbolic link that leads outside the tree.
	ErrEscapes = errors.New("a symbolic link that leads outside the tree")
)

// Dir opens the tree at dir: symbolic links are followed only inside it
// (os.Root). Close the returned closer when done.
func Dir(dir string) (fs.FS, io.Closer, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("open tree %s: %w", dir, err)
	}
	return New(root.FS()), root, nil
}

// New wraps fsys with the rules of the package. Wrapping twice is harmless.
func New(fsys fs.FS) fs.FS {
	if g, ok := fsys.(guarded); ok {
		return g
	}
	return guarded{inner: fsys}
}

type guarded struct{ inner fs.FS }

// Open refuses what is not a directory or a regular file within the size
// limit, before opening it (opening a FIFO would block).
func (g guarded) Open(name string) (fs.File, error) {
	info, err := g.Stat(name)
	if err != nil {
		return nil, err
	}
	f, err := g.inner.Open(name)
	if err != nil {
		return nil, err
	}
	if info.IsDir() {
		return f, nil
	}
	return &limited{File: f, name: name, left: MaxFileBytes}, nil
}

// Stat follows symbolic links (inside the tree) and refuses what Open
// would refuse, so the problem is reported where a reader first looks.
func (g guarded) Stat(name string) (fs.FileInfo, error) {
	info, err := fs.Stat(g.inner, name)
	if err != nil {
		if g.isLink(name) && !errors.Is(err, fs.ErrNotExist) {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w (%v)", ErrEscapes, errors.Unwrap(err))}
		}
		return nil, err
	}
	switch mode := info.Mode(); {
	case mode.IsDir():
	case !mode.IsRegular():
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w: it is a %s", ErrNotRegular, kind(mode))}
	case info.Size() > MaxFileBytes:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w (%d bytes)", ErrTooLarge, info.Size())}
	}
	return info, nil
}

// ReadDir lists a directory. Entries keep their own type (a symbolic link
// is reported as one); callers decide with Stat whether to read them.
func (g guarded) ReadDir(name string) ([]fs.DirEntry, error) {
	if _, err := g.Stat(name); err != nil {
		return nil, err
	}
	return fs.ReadDir(g.inner, name)
}

// Lstat describes a link itself (fs.ReadLinkFS), when the tree knows links.
func (g guarded) Lstat(name string) (fs.FileInfo, error) {
	if l, ok := g.inner.(fs.ReadLinkFS); ok {
		return l.Lstat(name)
	}
	return fs.Stat(g.inner, name)
}

// ReadLink returns a link's destination (fs.ReadLinkFS).
func (g guarded) ReadLink(name string) (string, error) {
	if l, ok := g.inner.(fs.ReadLinkFS); ok {
		return l.ReadLink(name)
	}
	return "", &fs.PathError{Op: "readlink", Path: name, Err: errors.ErrUnsupported}
}

func (g guarded) isLink(name string) bool {
	info, err := g.Lstat(name)
	return err == nil && info.Mode()&fs.ModeSymlink != 0
}

// kind names a non-regular file type for messages.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	}
	return "special file"
}

// limited fails a read past MaxFileBytes: a file may grow after Stat.
type limited struct {
	fs.File
	name string
	left int64
}

func (l *limited) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// One byte more tells a file of exactly the limit from a longer one.
		var b [1]byte
		if n, _ := l.File.Read(b[:]); n > 0 {
			return 0, &fs.PathError{Op: "read", Path: l.name, Err: ErrTooLarge}
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.File.Read(p)
	l.left -= int64(n)
	return n, err
}

// Describe says in a sentence why a path of the tree was refused, for
// messages ("is a symbolic link that leads outside the tree"), or returns
// "" when err is not one of the package's refusals.
func Describe(err error) string {
	switch {
	case errors.Is(err, ErrEscapes):
		return "is " + ErrEscapes.Error() + ": only links inside the tree are followed; commit the file itself"
	case errors.Is(err, ErrNotRegular):
		var pe *fs.PathError
		msg := ErrNotRegular.Error()
		if errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		return "is " + msg + ": only regular files are read"
	case errors.Is(err, ErrTooLarge):
		return "is " + ErrTooLarge.Error()
	}
	return ""
}
