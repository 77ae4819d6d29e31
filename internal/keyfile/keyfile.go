// Package keyfile stores Ed25519 private keys encrypted at rest.
//
// # Key file format
//
// A key file is one JSON object (UTF-8, at most 64 KiB), written with mode 0600:
//
//	{
//	  "format": "santong-key",
//	  "version": 1,
//	  "name": "acme label key 2026",
//	  "public": "<base64 of the 32-byte Ed25519 public key>",
//	  "kdf": {"alg": "argon2id", "time": 3, "memory_kib": 65536, "threads": 4, "salt": "<base64, 16 bytes>"},
//	  "aead": "chacha20poly1305",
//	  "nonce": "<base64, 12 bytes>",
//	  "ciphertext": "<base64, 32-byte seed + 16-byte tag>"
//	}
//
// Base64 is standard with padding (RFC 4648 section 4). The key-encryption key is
// argon2id(passphrase, salt, time, memory_kib, threads, 32 bytes). The plaintext is the 32-byte
// Ed25519 seed (RFC 8032). The additional data of the AEAD binds the clear header:
//
//	"santong-key v1\n" || public (32 bytes) || time (4 bytes BE) || memory_kib (4 bytes BE) ||
//	threads (1 byte) || salt (16 bytes)
//
// so that editing the public key or the KDF parameters is detected. The name is a comment and is
// not authenticated. After decryption the public key derived from the seed must equal "public".
//
// A future incompatible format would change "version". Readers refuse versions they do not know.
//
// Readers bound the argon2id parameters (time 1-16, memory up to 1 GiB, time times memory up to
// 4 GiB, threads 1-64), so that a hostile file cannot exhaust memory or time.
//
// Errors: a file that cannot be parsed, has a field of the wrong size, or whose parameters are
// out of bounds gives [ErrDamaged] (code invalid). A passphrase that does not open the ciphertext
// gives [ErrPassphrase] (code unauthorized); AEAD cannot tell a wrong passphrase from a changed
// ciphertext, so the message says both.
package keyfile

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/santong-cn/santong/internal/fault"
)

// Format identifiers.
const (
	formatName = "santong-key"
	version    = 1
	kdfAlg     = "argon2id"
	aeadAlg    = "chacha20poly1305"
	saltSize   = 16
	maxFile    = 64 << 10
)

// Errors. They are fixed values: errors.Is(err, ErrPassphrase) works, and they never echo the file.
var (
	ErrPassphrase = &fault.Error{Code: fault.Unauthorized, Message: "wrong passphrase, or the encrypted key in the file was altered"}
	ErrDamaged    = &fault.Error{Code: fault.Invalid, Message: "key file is damaged or not a santong key file"}
	ErrVersion    = &fault.Error{Code: fault.Invalid, Message: "key file version is not supported by this program"}
	ErrExists     = &fault.Error{Code: fault.Conflict, Message: "key file already exists; refusing to overwrite it"}
	ErrNoPass     = &fault.Error{Code: fault.Invalid, Message: "no passphrase: set SANTONG_PASSPHRASE or run on a terminal"}
)

// Params are the argon2id parameters.
type Params struct {
	Time      uint32 // passes
	MemoryKiB uint32 // memory in KiB
	Threads   uint8  // lanes
}

// DefaultParams follow RFC 9106's second recommended option (t=3, m=64 MiB, p=4).
var DefaultParams = Params{Time: 3, MemoryKiB: 64 << 10, Threads: 4}

// FastParams are cheap parameters for tests. Never use them for a real key.
var FastParams = Params{Time: 1, MemoryKiB: 64, Threads: 1}

// Bounds a reader accepts, so that a hostile file can make Read neither allocate gigabytes nor
// run for minutes: at most 1 GiB of memory, 16 passes, and 4 GiB of memory passes in all (time
// times memory: 64 passes over 64 MiB, or 4 over 1 GiB; DefaultParams use 192 MiB), which
// argon2id does in a few seconds. A 4 GiB, 64-pass file would hold a CPU for minutes.
const (
	maxTime    = 16
	maxMemKiB  = 1 << 20 // 1 GiB
	maxWorkKiB = 4 << 20 // time * memory
	maxThreads = 64
)

func (p Params) valid() bool {
	return p.Time >= 1 && p.Time <= maxTime && p.Threads >= 1 && p.Threads <= maxThreads &&
		p.MemoryKiB >= 8*uint32(p.Threads) && p.MemoryKiB <= maxMemKiB &&
		uint64(p.Time)*uint64(p.MemoryKiB) <= maxWorkKiB
}

type kdfJSON struct {
	Alg       string `json:"alg"`
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
	Salt      []byte `json:"salt"`
}

type fileJSON struct {
	Format     string  `json:"format"`
	Version    int     `json:"version"`
	Name       string  `json:"name,omitempty"`
	Public     []byte  `json:"public"`
	KDF        kdfJSON `json:"kdf"`
	AEAD       string  `json:"aead"`
	Nonce      []byte  `json:"nonce"`
	Ciphertext []byte  `json:"ciphertext"`
}

// Generate returns a new Ed25519 private key from crypto/rand.
func Generate() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "generate key")
	}
	return priv, nil
}

func aad(pub []byte, p Params, salt []byte) []byte {
	b := make([]byte, 0, 15+32+9+saltSize)
	b = append(b, "santong-key v1\n"...)
	b = append(b, pub...)
	b = binary.BigEndian.AppendUint32(b, p.Time)
	b = binary.BigEndian.AppendUint32(b, p.MemoryKiB)
	b = append(b, p.Threads)
	return append(b, salt...)
}

func deriveKey(pass, salt []byte, p Params) []byte {
	return argon2.IDKey(pass, salt, p.Time, p.MemoryKiB, p.Threads, chacha20poly1305.KeySize)
}

// randRead fills the salt and the nonce; the known-answer test replaces it with fixed bytes.
var randRead = rand.Read

// Marshal encrypts key under passphrase with params and returns the file contents.
func Marshal(key ed25519.PrivateKey, passphrase []byte, name string, p Params) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fault.New(fault.Invalid, "not an Ed25519 private key")
	}
	if len(passphrase) == 0 {
		return nil, fault.New(fault.Invalid, "empty passphrase")
	}
	if !p.valid() {
		return nil, fault.New(fault.Invalid, "argon2id parameters out of bounds")
	}
	salt := make([]byte, saltSize)
	nonce := make([]byte, chacha20poly1305.NonceSize)
	if _, err := randRead(salt); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "read random salt")
	}
	if _, err := randRead(nonce); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "read random nonce")
	}
	pub := []byte(key.Public().(ed25519.PublicKey))
	aead, err := chacha20poly1305.New(deriveKey(passphrase, salt, p))
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "init aead")
	}
	ct := aead.Seal(nil, nonce, key.Seed(), aad(pub, p, salt))
	f := fileJSON{
		Format: formatName, Version: version, Name: name, Public: pub,
		KDF:  kdfJSON{Alg: kdfAlg, Time: p.Time, MemoryKiB: p.MemoryKiB, Threads: p.Threads, Salt: salt},
		AEAD: aeadAlg, Nonce: nonce, Ciphertext: ct,
	}
	out, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "encode key file")
	}
	return append(out, '\n'), nil
}

// parse checks the structure of a key file without decrypting it.
func parse(data []byte) (*fileJSON, error) {
	if len(data) > maxFile {
		return nil, ErrDamaged
	}
	var f fileJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, ErrDamaged
	}
	if _, err := dec.Token(); err != io.EOF { // trailing bytes after the object
		return nil, ErrDamaged
	}
	if f.Format != formatName {
		return nil, ErrDamaged
	}
	if f.Version != version {
		return nil, ErrVersion
	}
	p := Params{Time: f.KDF.Time, MemoryKiB: f.KDF.MemoryKiB, Threads: f.KDF.Threads}
	if f.KDF.Alg != kdfAlg || f.AEAD != aeadAlg || !p.valid() ||
		len(f.Public) != ed25519.PublicKeySize || len(f.KDF.Salt) != saltSize ||
		len(f.Nonce) != chacha20poly1305.NonceSize ||
		len(f.Ciphertext) != ed25519.SeedSize+chacha20poly1305.Overhead {
		return nil, ErrDamaged
	}
	return &f, nil
}

// Unmarshal decrypts the contents of a key file.
func Unmarshal(data, passphrase []byte) (ed25519.PrivateKey, error) {
	f, err := parse(data)
	if err != nil {
		return nil, err
	}
	p := Params{Time: f.KDF.Time, MemoryKiB: f.KDF.MemoryKiB, Threads: f.KDF.Threads}
	aead, err := chacha20poly1305.New(deriveKey(passphrase, f.KDF.Salt, p))
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "init aead")
	}
	seed, err := aead.Open(nil, f.Nonce, f.Ciphertext, aad(f.Public, p, f.KDF.Salt))
	if err != nil {
		return nil, ErrPassphrase
	}
	key := ed25519.NewKeyFromSeed(seed)
	if !bytes.Equal(key.Public().(ed25519.PublicKey), f.Public) {
		return nil, ErrDamaged
	}
	return key, nil
}

// PublicOf returns the public key recorded in the contents of a key file, without a passphrase.
func PublicOf(data []byte) (ed25519.PublicKey, string, error) {
	f, err := parse(data)
	if err != nil {
		return nil, "", err
	}
	return ed25519.PublicKey(f.Public), f.Name, nil
}

// Write encrypts key with DefaultParams and writes it to path (mode 0600, atomically).
// It refuses to overwrite an existing file ([ErrExists]).
func Write(path string, key ed25519.PrivateKey, passphrase []byte, name string) error {
	return WriteParams(path, key, passphrase, name, DefaultParams)
}

// WriteParams is Write with chosen argon2id parameters.
func WriteParams(path string, key ed25519.PrivateKey, passphrase []byte, name string, p Params) error {
	data, err := Marshal(key, passphrase, name, p)
	if err != nil {
		return err
	}
	return writeAtomic(path, data)
}

// writeAtomic writes data to a temporary file in path's directory, syncs it, then links it to
// path (which fails if path exists), removes the temporary name and syncs the directory.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".keyfile-*.tmp")
	if err != nil {
		return fault.Wrap(fault.Internal, err, "create key file")
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fault.Wrap(fault.Internal, err, "chmod key file")
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fault.Wrap(fault.Internal, err, "write key file")
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fault.Wrap(fault.Internal, err, "sync key file")
	}
	if err := tmp.Close(); err != nil {
		return fault.Wrap(fault.Internal, err, "close key file")
	}
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ErrExists
		}
		// A file system without hard links: check, then rename.
		if _, serr := os.Lstat(path); serr == nil {
			return ErrExists
		}
		if err := os.Rename(tmpName, path); err != nil {
			return fault.Wrap(fault.Internal, err, "rename key file")
		}
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fault.Wrap(fault.NotFound, err, "key file not found")
		}
		return nil, fault.Wrap(fault.Internal, err, "open key file")
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "read key file")
	}
	return data, nil
}

// Read reads and decrypts the key file at path.
func Read(path string, passphrase []byte) (ed25519.PrivateKey, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Unmarshal(data, passphrase)
}

// ReadPublic returns the public key and name recorded in the key file at path; it needs no passphrase.
func ReadPublic(path string) (ed25519.PublicKey, string, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, "", err
	}
	return PublicOf(data)
}
