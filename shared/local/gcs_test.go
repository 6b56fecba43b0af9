package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
)

func writeObject(ctx context.Context, c *storage.Client, bucket, name string, cond storage.Conditions, data string) (int64, error) {
	o := c.Bucket(bucket).Object(name)
	if cond != (storage.Conditions{}) {
		o = o.If(cond)
	}
	w := o.NewWriter(ctx)
	w.ChunkSize = 0
	if _, err := io.WriteString(w, data); err != nil {
		w.Close()
		return 0, err
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	return w.Attrs().Generation, nil
}

func readObject(ctx context.Context, c *storage.Client, bucket, name string) (string, int64, error) {
	r, err := c.Bucket(bucket).Object(name).NewReader(ctx)
	if err != nil {
		return "", 0, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return string(b), r.Attrs.Generation, err
}

func isStatus(err error, code int) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == code
}

func TestGCSPersistsAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")

	g, err := OpenGCS(dir)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // EnsureBucket is idempotent
		if err := g.EnsureBucket(ctx, "ledger"); err != nil {
			t.Fatal(err)
		}
	}
	gen, err := writeObject(ctx, g.Client, "ledger", "backfills/p.d.t/2026-11-01/backfill.json", storage.Conditions{DoesNotExist: true}, `{"state":"pending"}`)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	g, err = OpenGCS(dir)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer g.Close()
	if err := g.EnsureBucket(ctx, "ledger"); err != nil {
		t.Fatalf("EnsureBucket on an existing bucket after restart: %v", err)
	}
	name := "backfills/p.d.t/2026-11-01/backfill.json"
	data, gotGen, err := readObject(ctx, g.Client, "ledger", name)
	if err != nil {
		t.Fatalf("read after restart: %v", err)
	}
	if data != `{"state":"pending"}` || gotGen != gen {
		t.Errorf("after restart: %q generation %d, want %q generation %d", data, gotGen, `{"state":"pending"}`, gen)
	}
	if _, err := writeObject(ctx, g.Client, "ledger", name, storage.Conditions{DoesNotExist: true}, "x"); !isStatus(err, http.StatusPreconditionFailed) {
		t.Errorf("create-if-absent after restart: %v, want 412", err)
	}
	newGen, err := writeObject(ctx, g.Client, "ledger", name, storage.Conditions{GenerationMatch: gen}, `{"state":"staging"}`)
	if err != nil {
		t.Fatalf("compare-and-swap with the persisted generation: %v", err)
	}
	if _, err := writeObject(ctx, g.Client, "ledger", name, storage.Conditions{GenerationMatch: gen}, "stale"); !isStatus(err, http.StatusPreconditionFailed) {
		t.Errorf("stale compare-and-swap: %v, want 412", err)
	}
	if data, gotGen, err := readObject(ctx, g.Client, "ledger", name); err != nil || data != `{"state":"staging"}` || gotGen != newGen {
		t.Errorf("final object: %q generation %d (%v), want staging generation %d", data, gotGen, err, newGen)
	}
	if _, err := os.Stat(filepath.Join(dir, GCSDataDir, "ledger", name)); err != nil {
		t.Errorf("object not stored under %s: %v", filepath.Join(dir, GCSDataDir), err)
	}
}

func TestGCSInMemory(t *testing.T) {
	ctx := context.Background()
	a, err := OpenGCS("")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenGCS("") // nothing is locked in memory mode
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.EnsureBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	if _, err := writeObject(ctx, a.Client, "bkt", "o", storage.Conditions{DoesNotExist: true}, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Client.Bucket("bkt").Attrs(ctx); !errors.Is(err, storage.ErrBucketNotExist) {
		t.Errorf("second memory fake sees the first one's bucket: %v", err)
	}
}

func TestGCSLockedInProcess(t *testing.T) {
	dir := t.TempDir()
	g, err := OpenGCS(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = OpenGCS(dir)
	var inUse *InUseError
	if !errors.As(err, &inUse) {
		t.Fatalf("second OpenGCS: %v, want an *InUseError", err)
	}
	want := fmt.Sprintf("state directory %s is in use by another bqbackfill process (pid %d)", dir, os.Getpid())
	if err.Error() != want || inUse.PID != os.Getpid() || inUse.Dir != dir {
		t.Errorf("error %q (%+v), want %q", err, inUse, want)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	g, err = OpenGCS(dir)
	if err != nil {
		t.Fatalf("OpenGCS after Close: %v", err)
	}
	g.Close()
}

// TestGCSLockedByAnotherProcess runs this test binary again as a child that
// opens the directory and holds it until its stdin closes.
func TestGCSLockedByAnotherProcess(t *testing.T) {
	if dir := os.Getenv("BQBACKFILL_TEST_HOLD_GCS"); dir != "" {
		holdGCS(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestGCSLockedByAnotherProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BQBACKFILL_TEST_HOLD_GCS="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "holding" {
		t.Fatalf("child did not take the directory: %q %v", line, err)
	}

	_, err = OpenGCS(dir)
	want := fmt.Sprintf("state directory %s is in use by another bqbackfill process (pid %d)", dir, cmd.Process.Pid)
	var inUse *InUseError
	if !errors.As(err, &inUse) || inUse.PID != cmd.Process.Pid || err.Error() != want {
		t.Fatalf("OpenGCS while another process holds the directory: %v, want %q", err, want)
	}

	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	g, err := OpenGCS(dir)
	if err != nil {
		t.Fatalf("OpenGCS after the holder exited: %v", err)
	}
	defer g.Close()
	data, _, err := readObject(context.Background(), g.Client, "held", "by-child")
	if err != nil || data != strconv.Itoa(cmd.Process.Pid) {
		t.Errorf("the child's object: %q, %v", data, err)
	}
}

// holdGCS is the child of TestGCSLockedByAnotherProcess.
func holdGCS(dir string) {
	g, err := OpenGCS(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	ctx := context.Background()
	if err := g.EnsureBucket(ctx, "held"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	if _, err := writeObject(ctx, g.Client, "held", "by-child", storage.Conditions{}, strconv.Itoa(os.Getpid())); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	fmt.Println("holding")
	io.Copy(io.Discard, os.Stdin) // until the parent closes stdin
	if err := g.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	os.Exit(0)
}

func TestLockDirRecordsPID(t *testing.T) {
	dir := t.TempDir()
	// A stale pid from a dead holder does not block.
	if err := os.WriteFile(filepath.Join(dir, LockFile), []byte("999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := LockDir(dir)
	if err != nil {
		t.Fatalf("lock with a stale pid file: %v", err)
	}
	if got := readPID(filepath.Join(dir, LockFile)); got != os.Getpid() {
		t.Errorf("recorded pid %d, want %d", got, os.Getpid())
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Errorf("second Unlock: %v", err)
	}
	if err := (&InUseError{Dir: "/s"}).Error(); err != "state directory /s is in use by another bqbackfill process (pid unknown)" {
		t.Errorf("unknown pid message: %q", err)
	}
	if _, err := LockDir(filepath.Join(dir, "missing")); err == nil || errors.As(err, new(*InUseError)) {
		t.Errorf("LockDir on a missing directory: %v, want an open error", err)
	}
}
