// Package private holds what the service keeps outside the public log that is not a
// confidential attachment (ledger/attach): enterprises' enrolment requests, which are not events
// because the key that signs one is not enrolled yet. Files under one directory, one per
// record, each replaced atomically.
package private

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/santong-cn/santong/internal/atomicfile"
	"github.com/santong-cn/santong/internal/fault"
)

// Store keeps records as files under a directory: Dir/kind/name.
type Store struct{ dir string }

// Open opens (and creates) a store in dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fault.New(fault.Internal, "create the private store: %v", err)
	}
	return &Store{dir: dir}, nil
}

var nameRE = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

func (s *Store) path(kind, name string) (string, error) {
	if !nameRE.MatchString(kind) || !nameRE.MatchString(name) {
		return "", fault.New(fault.Invalid, "malformed record name")
	}
	return filepath.Join(s.dir, kind, name+".json"), nil
}

// Put writes a record, replacing any before it, crash-safely.
func (s *Store) Put(kind, name string, b []byte) error {
	p, err := s.path(kind, name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fault.New(fault.Internal, "private store: %v", err)
	}
	if err := atomicfile.Write(p, b); err != nil {
		return fault.New(fault.Internal, "private store: %v", err)
	}
	return nil
}

// Move moves a record to another kind, replacing any there, crash-safely: a crash leaves it in
// one kind or in both (the new copy written first), never in neither.
func (s *Store) Move(kind, name, to string) error {
	b, err := s.Get(kind, name)
	if err != nil {
		return err
	}
	if err := s.Put(to, name, b); err != nil {
		return err
	}
	p, _ := s.path(kind, name)
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fault.New(fault.Internal, "private store: %v", err)
	}
	return nil
}

// Get reads a record (fault.NotFound when there is none).
func (s *Store) Get(kind, name string) ([]byte, error) {
	p, err := s.path(kind, name)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fault.New(fault.NotFound, "no such record")
	}
	if err != nil {
		return nil, fault.New(fault.Internal, "private store: %v", err)
	}
	return b, nil
}

// List returns the names of a kind's records, sorted.
func (s *Store) List(kind string) ([]string, error) {
	if !nameRE.MatchString(kind) {
		return nil, fault.New(fault.Invalid, "malformed record name")
	}
	es, err := os.ReadDir(filepath.Join(s.dir, kind))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fault.New(fault.Internal, "private store: %v", err)
	}
	var out []string
	for _, e := range es {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && nameRE.MatchString(n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}
