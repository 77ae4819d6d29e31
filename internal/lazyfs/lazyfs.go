// Package lazyfs is a FUSE file system for power-loss tests, after the idea of LazyFS: it passes
// every operation through to a backing directory, remembers which file data was written since the
// file's last fsync, and on Crash discards exactly that data, as a power cut discards what was
// still in the page cache.
//
// The model, per file (per backing inode, so it follows renames):
//
//   - A file's durable state is its content and size at its last fsync or fdatasync (msync with
//     MS_SYNC reaches the file system as an fsync, after the kernel has written the mapping's dirty
//     pages back as writes), or at the first time lazyfs saw it change.
//   - Writes, truncations, O_TRUNC opens and hole-punching fallocates go through to the backing
//     file at once; before each, lazyfs saves the durable bytes it is about to overwrite or cut.
//   - Crash puts every saved byte back (newest change first) and truncates each file to its
//     durable size. The backing directory then holds what a disk would after a power cut.
//
// Like LazyFS's default, directory operations (create, unlink, rename, mkdir) are durable at
// once: fsync of a directory is not modelled. A file created and never fsynced survives the crash
// with size zero. FUSE carries no range in an fsync request, so an fsync (or an msync of part of a
// mapping) makes the whole file durable.
//
// Crash must be called with the file system unmounted (Unmount first): unmounting makes the
// kernel write back its dirty pages, which are then unsynced writes like any other, and drops its
// page cache, so that after Mount the readers see the crashed state.
//
// The process that serves the file system must not map its files: a page fault waits for the
// server, the server may wait for the Go garbage collector, and the collector for the faulting
// thread. Run the programs under test in child processes (and beware: go-fuse opens /dev/fuse
// without O_CLOEXEC; Mount marks it close-on-exec so that children do not inherit it).
//
// Mounting needs /dev/fuse and either root (lazyfs calls mount(2) itself) or fusermount3
// (Debian's fuse3 package).
package lazyfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// FS is a lazyfs over one backing directory. Mount it, use the mount point, Unmount, Crash (or
// not), Mount again.
type FS struct {
	backing string

	mu      sync.Mutex
	files   map[uint64]*file // by backing inode number
	server  *fuse.Server
	mnt     string
	stats   Stats
	crashed CrashReport
}

// Stats counts what the file system saw since New.
type Stats struct {
	Writes       int64 // write requests
	WrittenBytes int64
	Truncates    int64
	Fsyncs       int64
}

// CrashReport says what a Crash discarded.
type CrashReport struct {
	Files         int   // files that had unsynced changes
	RestoredBytes int64 // durable bytes put back over unsynced writes or truncations
	CutBytes      int64 // bytes past a file's durable size, cut off
}

// file is the durable state of one backing inode.
type file struct {
	f      *os.File // the backing inode, open read-write, for Crash
	synced int64    // the durable size
	undo   []span   // durable bytes overwritten since the last fsync, oldest first
}

type span struct {
	off  int64
	data []byte
}

// New returns a lazyfs over the backing directory dir.
func New(dir string) (*FS, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("lazyfs: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("lazyfs: %s is not a directory", dir)
	}
	return &FS{backing: dir, files: map[uint64]*file{}}, nil
}

// Available reports why FUSE cannot be used here, or nil.
func Available() error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("lazyfs: no /dev/fuse (FUSE is not available here: %v)", err)
	}
	return nil
}

// Mount mounts the file system at mnt (an existing empty directory).
func (l *FS) Mount(mnt string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.server != nil {
		return errors.New("lazyfs: already mounted")
	}
	root, err := fs.NewLoopbackRoot(l.backing)
	if err != nil {
		return fmt.Errorf("lazyfs: %w", err)
	}
	sec := time.Second
	srv, err := fs.Mount(mnt, &node{LoopbackNode: root.(*fs.LoopbackNode), lz: l}, &fs.Options{
		EntryTimeout: &sec,
		AttrTimeout:  &sec,
		MountOptions: fuse.MountOptions{
			FsName:      "lazyfs",
			Name:        "lazyfs",
			DirectMount: true, // as root, no fusermount needed; falls back to fusermount3
			// No writeback cache: write(2) reaches lazyfs at once. Mapped pages still go
			// through the page cache and arrive as writes on writeback, msync or unmount.
		},
	})
	if err != nil {
		return fmt.Errorf("lazyfs: mount %s: %w", mnt, err)
	}
	l.server, l.mnt = srv, mnt
	closeOnExec()
	return nil
}

// closeOnExec marks this process's /dev/fuse descriptors close-on-exec. go-fuse opens the device
// without O_CLOEXEC, so a child process (the test's appender) would inherit it; if this process
// then died, the child's copy would keep the connection open and the child, exiting, would wait
// for ever for an answer to its last flush.
func closeOnExec() {
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		if t, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && t == "/dev/fuse" {
			if fd, err := strconv.Atoi(e.Name()); err == nil {
				unix.CloseOnExec(fd)
			}
		}
	}
}

// Unmount unmounts the file system; the kernel first writes back its dirty pages.
func (l *FS) Unmount() error {
	l.mu.Lock()
	srv := l.server
	l.mu.Unlock()
	if srv == nil {
		return nil
	}
	var err error
	for try := 0; try < 50; try++ { // a process that just died may still hold the mount briefly
		if err = srv.Unmount(); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("lazyfs: unmount %s: %w", l.mnt, err)
	}
	srv.Wait()
	l.mu.Lock()
	l.server = nil
	l.mu.Unlock()
	return nil
}

// Crash discards every change not made durable by an fsync, as a power cut would. The file
// system must be unmounted.
func (l *FS) Crash() (CrashReport, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.server != nil {
		return CrashReport{}, errors.New("lazyfs: crash while mounted: unmount first")
	}
	var rep CrashReport
	var errs []error
	for ino, f := range l.files {
		st, err := f.f.Stat()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(f.undo) > 0 || st.Size() != f.synced {
			rep.Files++
		}
		if st.Size() > f.synced {
			rep.CutBytes += st.Size() - f.synced
		}
		for i := len(f.undo) - 1; i >= 0; i-- {
			s := f.undo[i]
			if _, err := f.f.WriteAt(s.data, s.off); err != nil {
				errs = append(errs, err)
			}
			rep.RestoredBytes += int64(len(s.data))
		}
		if err := f.f.Truncate(f.synced); err != nil {
			errs = append(errs, err)
		}
		f.f.Close()
		delete(l.files, ino)
	}
	l.crashed = rep
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("lazyfs: crash: %w", err)
	}
	return rep, nil
}

// Forget makes every change durable, as if each file had been fsynced (a clean shutdown).
func (l *FS) Forget() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ino, f := range l.files {
		f.f.Close()
		delete(l.files, ino)
	}
}

// Stats returns the counts so far.
func (l *FS) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// Unsynced is the number of bytes that a Crash now would put back or cut off.
func (l *FS) Unsynced() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, f := range l.files {
		for _, s := range f.undo {
			n += int64(len(s.data))
		}
		if st, err := f.f.Stat(); err == nil && st.Size() > f.synced {
			n += st.Size() - f.synced
		}
	}
	return n
}

// track returns the durable state of the inode open as fd, starting it (the current content is
// durable) on first sight. l.mu is held.
func (l *FS) track(fd int) (*file, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if f := l.files[st.Ino]; f != nil {
		return f, nil
	}
	// Reopen read-write through /proc: the handle may be write-only, and Crash needs its own.
	bf, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fd), os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	f := &file{f: bf, synced: st.Size}
	l.files[st.Ino] = f
	return f, nil
}

// save records the durable bytes in [off, end) before they are overwritten or cut. cur is the
// file's current size. l.mu is held.
func (f *file) save(off, end, cur int64) error {
	end = min(end, cur, f.synced)
	if off >= end {
		return nil
	}
	b := make([]byte, end-off)
	n, err := f.f.ReadAt(b, off)
	if err != nil && n != len(b) {
		return err
	}
	f.undo = append(f.undo, span{off: off, data: b})
	return nil
}

func size(fd int) (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return st.Size, nil
}

// truncate cuts or extends the file open as fd to n bytes, saving what it cuts.
func (l *FS) truncate(fd int, n int64) syscall.Errno {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := l.track(fd)
	if err != nil {
		return fs.ToErrno(err)
	}
	cur, err := size(fd)
	if err != nil {
		return fs.ToErrno(err)
	}
	if err := f.save(n, cur, cur); err != nil {
		return fs.ToErrno(err)
	}
	l.stats.Truncates++
	return fs.ToErrno(unix.Ftruncate(fd, n))
}

// fsync makes the file open as fd durable. The backing file is not fsynced: its durability is
// not what the test is about, and skipping it keeps the tests fast.
func (l *FS) fsync(fd int) syscall.Errno {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := l.track(fd)
	if err != nil {
		return fs.ToErrno(err)
	}
	cur, err := size(fd)
	if err != nil {
		return fs.ToErrno(err)
	}
	f.undo, f.synced = nil, cur
	l.stats.Fsyncs++
	return 0
}

// node is a loopback node whose files are handles of lazyfs.
type node struct {
	*fs.LoopbackNode
	lz *FS
}

var (
	_ fs.NodeWrapChilder = (*node)(nil)
	_ fs.NodeOpener      = (*node)(nil)
	_ fs.NodeCreater     = (*node)(nil)
	_ fs.NodeSetattrer   = (*node)(nil)
	_ fs.NodeFsyncer     = (*node)(nil)
)

func (n *node) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	return &node{LoopbackNode: ops.(*fs.LoopbackNode), lz: n.lz}
}

func (n *node) path() string { return n.RootData.Path + "/" + n.Path(n.Root()) }

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, ff, errno := n.LoopbackNode.Open(ctx, flags&^syscall.O_TRUNC)
	if errno != 0 {
		return nil, 0, errno
	}
	h, errno := n.lz.handle(fh, flags)
	return h, ff, errno
}

func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	in, fh, ff, errno := n.LoopbackNode.Create(ctx, name, flags&^syscall.O_TRUNC, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	h, errno := n.lz.handle(fh, flags)
	return in, h, ff, errno
}

// handle wraps a loopback file handle, doing an O_TRUNC open's truncation the lazyfs way.
func (l *FS) handle(fh fs.FileHandle, flags uint32) (fs.FileHandle, syscall.Errno) {
	lf := fh.(*fs.LoopbackFile)
	fd, ok := lf.PassthroughFd() // the handle's fd; lazyfs never hands it to the kernel
	if !ok {
		lf.Release(context.Background())
		return nil, syscall.EBADF
	}
	h := &handle{lf: lf, fd: fd, lz: l}
	if flags&syscall.O_TRUNC != 0 {
		if errno := l.truncate(fd, 0); errno != 0 {
			lf.Release(context.Background())
			return nil, errno
		}
	}
	return h, 0
}

func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	var inner fs.FileHandle
	if h, ok := f.(*handle); ok {
		inner = h.lf
	}
	if sz, ok := in.GetSize(); ok {
		if h, ok := f.(*handle); ok {
			if errno := n.lz.truncate(h.fd, int64(sz)); errno != 0 {
				return errno
			}
		} else {
			bf, err := os.OpenFile(n.path(), os.O_RDWR, 0)
			if err != nil {
				return fs.ToErrno(err)
			}
			errno := n.lz.truncate(int(bf.Fd()), int64(sz))
			bf.Close()
			if errno != 0 {
				return errno
			}
		}
		in.Valid &^= fuse.FATTR_SIZE
	}
	if inner != nil {
		return inner.(fs.FileSetattrer).Setattr(ctx, in, out)
	}
	return n.LoopbackNode.Setattr(ctx, nil, in, out)
}

func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	if h, ok := f.(*handle); ok {
		return h.Fsync(ctx, flags)
	}
	bf, err := os.Open(n.path())
	if err != nil {
		return fs.ToErrno(err)
	}
	defer bf.Close()
	if st, err := bf.Stat(); err == nil && st.IsDir() {
		return 0 // directory fsync: not modelled
	}
	return n.lz.fsync(int(bf.Fd()))
}

// handle is an open file. It deliberately offers no passthrough fd, so that every read and write
// comes to lazyfs.
type handle struct {
	lf *fs.LoopbackFile
	fd int
	lz *FS
}

var (
	_ fs.FileReader    = (*handle)(nil)
	_ fs.FileWriter    = (*handle)(nil)
	_ fs.FileFsyncer   = (*handle)(nil)
	_ fs.FileFlusher   = (*handle)(nil)
	_ fs.FileReleaser  = (*handle)(nil)
	_ fs.FileGetattrer = (*handle)(nil)
	_ fs.FileSetattrer = (*handle)(nil)
	_ fs.FileLseeker   = (*handle)(nil)
	_ fs.FileAllocater = (*handle)(nil)
)

func (h *handle) Read(ctx context.Context, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return h.lf.Read(ctx, buf, off)
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	l := h.lz
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := l.track(h.fd)
	if err != nil {
		return 0, fs.ToErrno(err)
	}
	cur, err := size(h.fd)
	if err != nil {
		return 0, fs.ToErrno(err)
	}
	if err := f.save(off, off+int64(len(data)), cur); err != nil {
		return 0, fs.ToErrno(err)
	}
	n, err := unix.Pwrite(h.fd, data, off)
	l.stats.Writes++
	l.stats.WrittenBytes += int64(n)
	return uint32(n), fs.ToErrno(err)
}

func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno { return h.lz.fsync(h.fd) }
func (h *handle) Flush(ctx context.Context) syscall.Errno               { return h.lf.Flush(ctx) }
func (h *handle) Release(ctx context.Context) syscall.Errno             { return h.lf.Release(ctx) }
func (h *handle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	return h.lf.Getattr(ctx, out)
}

func (h *handle) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if sz, ok := in.GetSize(); ok {
		if errno := h.lz.truncate(h.fd, int64(sz)); errno != 0 {
			return errno
		}
		in.Valid &^= fuse.FATTR_SIZE
	}
	return h.lf.Setattr(ctx, in, out)
}

func (h *handle) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	return h.lf.Lseek(ctx, off, whence)
}

// Allocate saves the durable bytes that a hole punch, zeroing or collapse may destroy (from off to
// the durable end); a plain allocation only grows the file, which Crash cuts back anyway.
func (h *handle) Allocate(ctx context.Context, off, sz uint64, mode uint32) syscall.Errno {
	if mode&^unix.FALLOC_FL_KEEP_SIZE != 0 {
		l := h.lz
		l.mu.Lock()
		f, err := l.track(h.fd)
		if err == nil {
			var cur int64
			if cur, err = size(h.fd); err == nil {
				err = f.save(int64(off), f.synced, cur)
			}
		}
		l.mu.Unlock()
		if err != nil {
			return fs.ToErrno(err)
		}
	}
	return h.lf.Allocate(ctx, off, sz, mode)
}
