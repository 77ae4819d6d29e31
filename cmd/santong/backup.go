package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/santong-cn/santong/internal/kv/badgerkv"
	"golang.org/x/mod/sumdb/tlog"
)

// A backup file (docs/operations.md):
//
//	santong-backup/2\n
//	HEADER (one line of JSON: backupHeader)\n
//	BODY (Badger's backup stream of the whole database at one read timestamp)
//	ATTACHMENTS (the confidential attachments: entries of
//	             name length (2, big-endian) | name "ab/<sha256>.json" | length (4) | the file)
//	ATTACHMENTS' LENGTH (8 bytes, big-endian)
//	SHA-256 of everything before it (32 bytes)
//
// Version 1 files (no attachments, no length) are still restored. The header names the
// checkpoint the backup covers. The keys are not in it: they are secret, and kept apart (restore
// --keys-from copies them from a data directory). Attachments are read after the database, so a
// backup taken while the service runs holds at least every attachment its records name.

const (
	backupMagic   = "santong-backup/2\n"
	backupMagicV1 = "santong-backup/1\n"
)

// backupHeader is the second line of a backup file.
type backupHeader struct {
	Origin     string    `json:"origin"`
	Size       int64     `json:"size"`       // records in the backup
	Checkpoint string    `json:"checkpoint"` // the latest signed checkpoint in it (a signed note)
	CPSize     int64     `json:"checkpoint_size"`
	CPRoot     tlog.Hash `json:"checkpoint_root"`
	Config     *config   `json:"config"` // the data directory's santong.json
	Created    time.Time `json:"created"`
}

// cmdBackup writes a consistent copy of a data directory's database, opened read-only.
func cmdBackup(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("backup")
	data := fs.String("data", "", "the data directory (default $SANTONG_DATA or ./"+defaultData+"); stop 'santong serve' first, or back up a filesystem snapshot of it")
	out := fs.String("out", "", "the backup file to write (it must not exist)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out is required: the backup file to write")
	}
	dir := dataDir(c, *data)
	reg, cfg, err := c.openRegistryMode(dir, true)
	if err != nil {
		return err
	}
	defer reg.Close()
	log := reg.Log()
	if err := log.Err(); err != nil {
		return withHint(fmt.Errorf("the log does not verify: %v", err), "run 'santong log verify --data %s'; back up a log that verifies", dir)
	}
	cp := log.Checkpoint()
	if cp == nil || len(cp.Note) == 0 {
		return withHint(errors.New("the log has no signed checkpoint"), "sign one with 'santong log checkpoint --data %s'", dir)
	}
	hdr := backupHeader{Origin: cfg.Origin, Size: log.Size(), Checkpoint: string(cp.Note), CPSize: cp.Size, CPRoot: cp.Root,
		Config: cfg, Created: time.Now().UTC()}
	db := badgerkv.DB(log.Store()) // a backup is of Badger's data directory (Badger's backup format)
	if db == nil {
		return errors.New("the log is not on Badger: back up its database with the database's own tools")
	}
	if err := writeBackup(*out, db, &hdr, filepath.Join(dir, attachmentsDir)); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "backed up %s to %s\n  records     %d\n  checkpoint  size %d, root %s\n", dir, *out, hdr.Size, hdr.CPSize, hdr.CPRoot)
	fmt.Fprintf(c.stdout, "check it: santong restore --in %s --data NEWDIR --keys-from %s && santong log verify --data NEWDIR\n", *out, dir)
	return nil
}

func writeBackup(path string, db *badger.DB, hdr *backupHeader, attachments string) (err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	h := sha256.New()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := io.MultiWriter(bw, h)
	line, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, backupMagic+string(line)+"\n"); err != nil {
		return err
	}
	if _, err := db.Backup(w, 0); err != nil {
		return fmt.Errorf("back up the database: %w", err)
	}
	n, err := writeAttachments(w, attachments)
	if err != nil {
		return fmt.Errorf("back up the attachments: %w", err)
	}
	if _, err := w.Write(binary.BigEndian.AppendUint64(nil, uint64(n))); err != nil {
		return err
	}
	if _, err := bw.Write(h.Sum(nil)); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// readBackupHeader checks a backup file whole (its SHA-256) and returns its header and the
// offsets of its body.
// readBackupHeader checks a backup file whole and returns its header, the offsets of its
// database body [start, end) and of its attachments [end, attEnd).
func readBackupHeader(path string) (hdr *backupHeader, start, end, attEnd int64, err error) {
	hdr, start, end, v1, err := readBackupFile(path)
	if err != nil || v1 {
		return hdr, start, end, end, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	defer f.Close()
	var l [8]byte
	if end-start < 8 {
		return nil, 0, 0, 0, fmt.Errorf("%s is not a usable backup: too short", path)
	}
	if _, err := f.ReadAt(l[:], end-8); err != nil {
		return nil, 0, 0, 0, err
	}
	n := int64(binary.BigEndian.Uint64(l[:]))
	if n < 0 || n > end-8-start {
		return nil, 0, 0, 0, fmt.Errorf("%s is not a usable backup: malformed attachments section", path)
	}
	return hdr, start, end - 8 - n, end - 8, nil
}

func readBackupFile(path string) (*backupHeader, int64, int64, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, 0, false, err
	}
	damaged := func(why string) error {
		return withHint(fmt.Errorf("%s is not a usable backup: %s", path, why), "do not restore it; take another backup, or use an older one")
	}
	if fi.Size() < int64(len(backupMagic))+sha256.Size {
		return nil, 0, 0, false, damaged("too short")
	}
	h := sha256.New()
	if _, err := io.CopyN(h, f, fi.Size()-sha256.Size); err != nil {
		return nil, 0, 0, false, err
	}
	sum := make([]byte, sha256.Size)
	if _, err := io.ReadFull(f, sum); err != nil {
		return nil, 0, 0, false, err
	}
	if !bytes.Equal(sum, h.Sum(nil)) {
		return nil, 0, 0, false, damaged("its checksum does not match (damaged or truncated)")
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, 0, false, err
	}
	br := bufio.NewReader(io.LimitReader(f, 1<<20))
	magic, err := br.ReadString('\n')
	if err != nil || (magic != backupMagic && magic != backupMagicV1) {
		return nil, 0, 0, false, damaged("not a santong-backup file")
	}
	line, err := br.ReadBytes('\n')
	if err != nil {
		return nil, 0, 0, false, damaged("no header")
	}
	var hdr backupHeader
	if err := json.Unmarshal(line, &hdr); err != nil || hdr.Config == nil || hdr.Origin == "" || hdr.Config.Origin != hdr.Origin {
		return nil, 0, 0, false, damaged("malformed header")
	}
	start := int64(len(magic) + len(line))
	return &hdr, start, fi.Size() - sha256.Size, magic == backupMagicV1, nil
}

// cmdRestore loads a backup into a new data directory.
func cmdRestore(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("restore")
	in := fs.String("in", "", "the backup file")
	data := fs.String("data", "", "the new data directory: absent or empty (never a live one)")
	keysFrom := fs.String("keys-from", "", "a data directory of the same log to copy keys/ and scan.key from (otherwise copy them by hand)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *in == "" || *data == "" {
		return usagef("--in and --data are required")
	}
	dir := *data
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return withHint(fmt.Errorf("%s is not empty: restore writes only into a new, empty directory", dir), "restore into a new directory, check it, then stop the service and swap the directories")
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	hdr, start, end, attEnd, err := readBackupHeader(*in)
	if err != nil {
		return err
	}
	if *keysFrom != "" {
		src, err := readConfig(*keysFrom)
		if err != nil {
			return err
		}
		if src.LogKey != hdr.Config.LogKey || src.OperatorKey != hdr.Config.OperatorKey {
			return fmt.Errorf("--keys-from %s holds the keys of another log than the backup's", *keysFrom)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		return err
	}
	if err := loadBackup(*in, start, end, filepath.Join(dir, "db")); err != nil {
		return err
	}
	na, err := restoreAttachments(*in, end, attEnd, filepath.Join(dir, attachmentsDir))
	if err != nil {
		return err
	}
	if err := writeConfig(dir, hdr.Config); err != nil {
		return err
	}
	if *keysFrom != "" {
		if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
			return err
		}
		for _, name := range []string{filepath.Join("keys", "log.key"), filepath.Join("keys", "operator.key"), "scan.key"} {
			if err := copyFile(filepath.Join(*keysFrom, name), filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("copy %s: %w", name, err)
			}
		}
	}
	if *keysFrom != "" {
		// The restored log opens (root of trust, tables) and holds what the header names.
		reg, _, err := c.openRegistryMode(dir, true)
		if err != nil {
			return fmt.Errorf("the restored copy does not open: %w", err)
		}
		log, cp := reg.Log(), reg.Log().Checkpoint()
		ok := log.Err() == nil && cp != nil && log.Size() == hdr.Size && cp.Size == hdr.CPSize && cp.Root == hdr.CPRoot
		reg.Close()
		if !ok {
			return fmt.Errorf("the restored copy in %s does not hold the checkpoint the backup names: do not use it", dir)
		}
	}
	fmt.Fprintf(c.stdout, "restored %s into %s\n  records     %d\n  checkpoint  size %d, root %s\n  attachments %d\n", *in, dir, hdr.Size, hdr.CPSize, hdr.CPRoot, na)
	if *keysFrom == "" {
		fmt.Fprintf(c.stdout, "next: copy keys/ and scan.key of this log into %s, then run santong log verify --data %s\n", dir, dir)
	} else {
		fmt.Fprintf(c.stdout, "next: santong log verify --data %s\n", dir)
	}
	fmt.Fprintf(c.stdout, "santong: this copy is older than the live log was: see docs/operations.md before serving it\n")
	return nil
}

// A restored log is older than the live one was. It must never sign a checkpoint that conflicts
// with one the live log published: the checkpoint lock outside the data directory
// (ledger/cplock.go, serve --checkpoint-lock) refuses that at open and before every signature,
// and docs/operations.md gives the procedure.

func loadBackup(path string, start, end int64, dbDir string) (err error) {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	db, err := badger.Open(badger.DefaultOptions(dbDir).WithLogger(nil).WithSyncWrites(true))
	if err != nil {
		return fmt.Errorf("create the database: %w", err)
	}
	defer func() {
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: its body does not load (%v): do not use it", path, r)
		}
	}()
	if err := db.Load(io.NewSectionReader(f, start, end-start), 256); err != nil {
		return fmt.Errorf("%s: load: %w", path, err)
	}
	return nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o600)
}
