package lazyfs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// mount mounts a lazyfs over a fresh backing directory, or skips where FUSE is absent.
func mount(t *testing.T) (*FS, string) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("%v: the lazyfs tests need FUSE (Debian: apt-get install fuse3; a container needs --device /dev/fuse)", err)
	}
	lz, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	if err := lz.Mount(mnt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lz.Unmount() })
	return lz, mnt
}

// powerCut unmounts, crashes and mounts again.
func powerCut(t *testing.T, lz *FS, mnt string) CrashReport {
	t.Helper()
	if err := lz.Unmount(); err != nil {
		t.Fatal(err)
	}
	rep, err := lz.Crash()
	if err != nil {
		t.Fatal(err)
	}
	if err := lz.Mount(mnt); err != nil {
		t.Fatal(err)
	}
	return rep
}

func write(t *testing.T, f *os.File, off int64, s string) {
	t.Helper()
	if _, err := f.WriteAt([]byte(s), off); err != nil {
		t.Fatal(err)
	}
}

func content(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func create(t *testing.T, p string) *os.File {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestUnsyncedWriteLost(t *testing.T) {
	lz, mnt := mount(t)
	p := filepath.Join(mnt, "a")
	f := create(t, p)
	write(t, f, 0, "hello, world")
	f.Close()
	if got := content(t, p); got != "hello, world" {
		t.Fatalf("before the crash: %q", got)
	}
	rep := powerCut(t, lz, mnt)
	if got := content(t, p); got != "" {
		t.Fatalf("an unsynced write survived the crash: %q", got)
	}
	if rep.Files != 1 || rep.CutBytes != 12 {
		t.Fatalf("report %+v, want 1 file, 12 bytes cut", rep)
	}
}

func TestSyncedWriteKept(t *testing.T) {
	lz, mnt := mount(t)
	p := filepath.Join(mnt, "a")
	f := create(t, p)
	write(t, f, 0, "hello, world")
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	write(t, f, 5, "!!")         // overwrites synced bytes
	write(t, f, 12, " and more") // grows the file
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	write(t, f, 0, "HELLO")  // lost
	write(t, f, 21, " tail") // lost
	f.Close()
	powerCut(t, lz, mnt)
	if got, want := content(t, p), "hello!!world and more"; got != want {
		t.Fatalf("after the crash %q, want %q", got, want)
	}
	if lz.Stats().Fsyncs < 2 {
		t.Fatalf("stats %+v: fsync and fdatasync not seen", lz.Stats())
	}
}

func TestOverwriteRestored(t *testing.T) {
	lz, mnt := mount(t)
	p := filepath.Join(mnt, "a")
	f := create(t, p)
	base := bytes.Repeat([]byte("0123456789"), 1000)
	if _, err := f.WriteAt(base, 0); err != nil {
		t.Fatal(err)
	}
	f.Sync()
	// Overlapping unsynced writes, some past the end.
	write(t, f, 100, "aaaaaaaaaaaaaaaaaaaa")
	write(t, f, 110, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")
	write(t, f, 9995, "cccccccccc")
	f.Close()
	powerCut(t, lz, mnt)
	if got := content(t, p); got != string(base) {
		t.Fatalf("after the crash the file differs from its synced content (len %d)", len(got))
	}
}

func TestTruncate(t *testing.T) {
	lz, mnt := mount(t)
	p, q := filepath.Join(mnt, "a"), filepath.Join(mnt, "b")
	for _, x := range []string{p, q} {
		f := create(t, x)
		write(t, f, 0, "0123456789")
		f.Sync()
		f.Close()
	}
	// a: shrink, write into the cut region, grow: nothing synced.
	if err := os.Truncate(p, 3); err != nil {
		t.Fatal(err)
	}
	f := create(t, p)
	write(t, f, 6, "xy")
	f.Truncate(20)
	f.Close()
	// b: truncated by an O_TRUNC open, then synced.
	g, err := os.OpenFile(q, os.O_RDWR|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	write(t, g, 0, "new")
	g.Sync()
	write(t, g, 3, " unsynced")
	g.Close()
	powerCut(t, lz, mnt)
	if got := content(t, p); got != "0123456789" {
		t.Fatalf("unsynced truncations survived: %q", got)
	}
	if got := content(t, q); got != "new" {
		t.Fatalf("synced truncation: %q, want %q", got, "new")
	}
	// An O_TRUNC open that is never synced is undone.
	g, err = os.OpenFile(q, os.O_RDWR|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	powerCut(t, lz, mnt)
	if got := content(t, q); got != "new" {
		t.Fatalf("unsynced O_TRUNC survived: %q", got)
	}
}

func TestRenameFollowsInode(t *testing.T) {
	lz, mnt := mount(t)
	p, q := filepath.Join(mnt, "a"), filepath.Join(mnt, "b")
	f := create(t, p)
	write(t, f, 0, "synced")
	f.Sync()
	f.Close()
	if err := os.Rename(p, q); err != nil {
		t.Fatal(err)
	}
	g, err := os.OpenFile(q, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	write(t, g, 6, " and not")
	g.Close()
	powerCut(t, lz, mnt)
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("old name: %v (renames are durable at once)", err)
	}
	if got := content(t, q); got != "synced" {
		t.Fatalf("renamed file after the crash: %q", got)
	}
}

// TestMmapChild writes through a shared mapping of $LAZYFS_MMAP_FILE, with msync when
// $LAZYFS_MMAP_SYNC is 1. It runs in a child process: the process serving a FUSE file system must
// not fault on pages of its files (the fault waits for the server, which may wait for the
// garbage collector, which waits for the faulting thread).
func TestMmapChild(t *testing.T) {
	p := os.Getenv("LAZYFS_MMAP_FILE")
	if p == "" {
		t.Skip("run by TestMmap")
	}
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); l == "/dev/fuse" {
			t.Fatalf("the child inherited the server's /dev/fuse (fd %s)", e.Name())
		}
	}
	f := create(t, p)
	if err := f.Truncate(8192); err != nil {
		t.Fatal(err)
	}
	f.Sync()
	m, err := unix.Mmap(int(f.Fd()), 0, 8192, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	copy(m[100:], "mapped")
	copy(m[5000:], "second page")
	if os.Getenv("LAZYFS_MMAP_SYNC") == "1" {
		if err := unix.Msync(m, unix.MS_SYNC); err != nil {
			t.Fatal(err)
		}
	}
	unix.Munmap(m)
	f.Close()
}

// TestMmap checks the path Badger's write-ahead log takes: writes into a shared mapping reach
// lazyfs on msync (kept) or at unmap, close or unmount (lost at the crash).
func TestMmap(t *testing.T) {
	lz, mnt := mount(t)
	for _, sync := range []string{"1", "0"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMmapChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "LAZYFS_MMAP_FILE="+filepath.Join(mnt, "sync"+sync), "LAZYFS_MMAP_SYNC="+sync)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
	}
	before := lz.Stats()
	powerCut(t, lz, mnt)
	if before.Writes == 0 {
		t.Fatal("no write requests from the mappings")
	}
	want := make([]byte, 8192)
	if got := content(t, filepath.Join(mnt, "sync0")); got != string(want) {
		t.Fatalf("unsynced mapped writes survived the crash")
	}
	copy(want[100:], "mapped")
	copy(want[5000:], "second page")
	if got := content(t, filepath.Join(mnt, "sync1")); got != string(want) {
		t.Fatalf("msynced mapped writes lost")
	}
}

func TestCrashWhileMounted(t *testing.T) {
	lz, _ := mount(t)
	if _, err := lz.Crash(); err == nil {
		t.Fatal("Crash while mounted: no error")
	}
}

func TestNewNotADirectory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, nil, 0o644)
	if _, err := New(p); err == nil {
		t.Fatal("New on a file: no error")
	}
	if _, err := New(filepath.Join(p, "missing")); err == nil {
		t.Fatal("New on a missing directory: no error")
	}
}
