package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/santong-cn/santong/ledger/attach"
)

// attachmentName is the only name an attachment file may have in a backup: two hex digits, a
// slash, the commitment and ".json" (so that a restore cannot write outside its directory).
var attachmentName = regexp.MustCompile(`^([0-9a-f]{2})/([0-9a-f]{64})\.json$`)

// writeAttachments writes the attachment store under dir (absent: none) as backup entries and
// returns the bytes written. Each file is checked against its commitment before it is written:
// a damaged attachment fails the backup rather than being copied.
func writeAttachments(w io.Writer, dir string) (int64, error) {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == dir {
			return fs.SkipDir
		}
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel = filepath.ToSlash(rel); attachmentName.MatchString(rel) {
			names = append(names, rel)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	sort.Strings(names)
	var n int64
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return n, err
		}
		a, err := attach.Parse(b)
		if err != nil || a.Commitment() != attachmentName.FindStringSubmatch(name)[2] {
			return n, fmt.Errorf("%s is damaged: restore it from an older backup first", filepath.Join(dir, name))
		}
		rec := binary.BigEndian.AppendUint16(nil, uint16(len(name)))
		rec = append(rec, name...)
		rec = binary.BigEndian.AppendUint32(rec, uint32(len(b)))
		if _, err := w.Write(append(rec, b...)); err != nil {
			return n, err
		}
		n += int64(len(rec) + len(b))
	}
	return n, nil
}

// restoreAttachments writes the attachment entries of the backup at [start, end) into dir, each
// checked against its commitment, and returns how many it wrote.
func restoreAttachments(path string, start, end int64, dir string) (int, error) {
	if start == end {
		return 0, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := attach.OpenStore(dir)
	if err != nil {
		return 0, err
	}
	r := io.NewSectionReader(f, start, end-start)
	bad := func(why string) error {
		return withHint(fmt.Errorf("%s: its attachments section is malformed (%s)", path, why), "do not use this backup; take another")
	}
	n := 0
	for {
		var l2 [2]byte
		if _, err := io.ReadFull(r, l2[:]); err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, bad("truncated")
		}
		name := make([]byte, binary.BigEndian.Uint16(l2[:]))
		var l4 [4]byte
		if _, err := io.ReadFull(r, name); err != nil {
			return n, bad("truncated name")
		}
		if _, err := io.ReadFull(r, l4[:]); err != nil {
			return n, bad("truncated length")
		}
		size := binary.BigEndian.Uint32(l4[:])
		if size > attach.MaxEncoded {
			return n, bad("an attachment larger than the format allows")
		}
		m := attachmentName.FindStringSubmatch(string(name))
		if m == nil {
			return n, bad("an entry with another name than an attachment's")
		}
		b := make([]byte, size)
		if _, err := io.ReadFull(r, b); err != nil {
			return n, bad("truncated attachment")
		}
		a, err := attach.Parse(b)
		if err != nil || a.Commitment() != m[2] {
			return n, bad("an attachment that does not match its commitment")
		}
		if _, err := st.Put(a); err != nil {
			return n, err
		}
		n++
	}
}
