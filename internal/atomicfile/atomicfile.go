// Package atomicfile replaces a file crash-safely: a reader, or the file system after a power
// cut, sees the old contents or the new ones, never a mix or an empty file.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with b: a temporary file in the same directory, fsync, rename over path,
// fsync of the directory (so that the rename itself is durable).
func Write(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
