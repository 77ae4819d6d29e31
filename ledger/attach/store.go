package attach

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/santong-cn/santong/internal/atomicfile"
	"github.com/santong-cn/santong/internal/fault"
)

// Store keeps attachments as files, one per commitment, under a directory (by default
// DATA/attachments): DIR/<first two hex digits>/<commitment>.json. Each file is written
// crash-safely and checked against its name when read, so a damaged file is an error, never a
// wrong document. Backups copy the directory with the database (santong backup).
type Store struct{ dir string }

// OpenStore opens (creating) the store in dir.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &Store{dir: dir}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(c string) string { return filepath.Join(s.dir, c[:2], c+".json") }

// Put stores a and returns its commitment. Storing an attachment already stored is a no-op.
func (s *Store) Put(a *Attachment) (string, error) {
	if err := a.check(); err != nil {
		return "", err
	}
	c := a.Commitment()
	p := s.path(c)
	if _, err := os.Stat(p); err == nil {
		return c, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	if err := atomicfile.Write(p, a.Marshal()); err != nil {
		return "", err
	}
	return c, nil
}

// ErrNotFound is the answer for a commitment the store does not hold.
var ErrNotFound = fault.New(fault.NotFound, "no such attachment here")

// ErrDamaged is the answer for a stored file that no longer matches its commitment.
var ErrDamaged = fault.New(fault.Unavailable, "the stored attachment is damaged; restore it from a backup")

// Get returns the attachment with commitment c.
func (s *Store) Get(c string) (*Attachment, error) {
	if err := CheckCommitment(c); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.path(c))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	a, err := Parse(b)
	if err != nil || a.Commitment() != c {
		return nil, ErrDamaged
	}
	return a, nil
}
