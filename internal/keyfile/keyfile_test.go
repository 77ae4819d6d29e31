package keyfile

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santong-cn/santong/internal/fault"
)

var pass = []byte("correct horse battery staple")

func newKeyFile(t testing.TB) (string, ed25519.PrivateKey) {
	t.Helper()
	key, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "label.key")
	if err := WriteParams(path, key, pass, "acme label key", FastParams); err != nil {
		t.Fatal(err)
	}
	return path, key
}

func TestRoundTrip(t *testing.T) {
	path, key := newKeyFile(t)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	got, err := Read(path, pass)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(key) {
		t.Fatal("Read returned a different key")
	}
	pub, name, err := ReadPublic(path)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(key.Public()) || name != "acme label key" {
		t.Fatalf("ReadPublic = %x %q", pub, name)
	}
	data, _ := os.ReadFile(path)
	if bytes.Contains(data, key.Seed()) {
		t.Fatal("seed stored in clear")
	}
	// No temporary files left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries, want 1", len(ents))
	}
}

func TestWrongPassphrase(t *testing.T) {
	path, _ := newKeyFile(t)
	_, err := Read(path, []byte("correct horse battery stapler"))
	if !errors.Is(err, ErrPassphrase) || fault.CodeOf(err) != fault.Unauthorized {
		t.Fatalf("err = %v, want ErrPassphrase", err)
	}
	if errors.Is(err, ErrDamaged) {
		t.Fatal("wrong passphrase reported as damage")
	}
}

func TestNoOverwrite(t *testing.T) {
	path, key := newKeyFile(t)
	before, _ := os.ReadFile(path)
	err := WriteParams(path, key, pass, "", FastParams)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("err = %v, want ErrExists", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("existing key file changed")
	}
}

func TestNotFound(t *testing.T) {
	_, err := Read(filepath.Join(t.TempDir(), "nope"), pass)
	if fault.CodeOf(err) != fault.NotFound {
		t.Fatalf("err = %v, want not_found", err)
	}
}

func TestMarshalRejects(t *testing.T) {
	key, _ := Generate()
	if _, err := Marshal(key, nil, "", FastParams); fault.CodeOf(err) != fault.Invalid {
		t.Errorf("empty passphrase: %v", err)
	}
	if _, err := Marshal(key[:10], pass, "", FastParams); fault.CodeOf(err) != fault.Invalid {
		t.Errorf("short key: %v", err)
	}
	if _, err := Marshal(key, pass, "", Params{}); fault.CodeOf(err) != fault.Invalid {
		t.Errorf("zero params: %v", err)
	}
}

// edit returns a copy of the genuine file with one JSON field changed.
func edit(t *testing.T, good []byte, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(good, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMalformed(t *testing.T) {
	key, _ := Generate()
	good, err := Marshal(key, pass, "n", FastParams)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := Generate()
	kdf := func(k string, v any) func(map[string]any) {
		return func(m map[string]any) { m["kdf"].(map[string]any)[k] = v }
	}
	set := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrDamaged},
		{"not json", []byte("-----BEGIN PRIVATE KEY-----"), ErrDamaged},
		{"truncated", good[:len(good)/2], ErrDamaged},
		{"truncated by one", good[:len(good)-3], ErrDamaged},
		{"trailing bytes", append(append([]byte{}, good...), "{}"...), ErrDamaged},
		{"too large", append(append([]byte{}, good...), bytes.Repeat([]byte(" "), maxFile)...), ErrDamaged},
		{"array", []byte("[]"), ErrDamaged},
		{"unknown field", edit(t, good, set("extra", 1)), ErrDamaged},
		{"wrong format", edit(t, good, set("format", "age")), ErrDamaged},
		{"version 2", edit(t, good, set("version", 2)), ErrVersion},
		{"version 0", edit(t, good, set("version", 0)), ErrVersion},
		{"wrong kdf", edit(t, good, kdf("alg", "scrypt")), ErrDamaged},
		{"wrong aead", edit(t, good, set("aead", "aes-gcm")), ErrDamaged},
		{"bad base64", edit(t, good, set("nonce", "!!!!")), ErrDamaged},
		{"short nonce", edit(t, good, set("nonce", "AAAA")), ErrDamaged},
		{"short salt", edit(t, good, kdf("salt", "AAAA")), ErrDamaged},
		{"short ciphertext", edit(t, good, set("ciphertext", "AAAA")), ErrDamaged},
		{"short public", edit(t, good, set("public", "AAAA")), ErrDamaged},
		{"zero time", edit(t, good, kdf("time", 0)), ErrDamaged},
		{"huge time", edit(t, good, kdf("time", 1000)), ErrDamaged},
		{"huge memory", edit(t, good, kdf("memory_kib", 1<<31)), ErrDamaged},
		{"100 GiB of memory", edit(t, good, kdf("memory_kib", 100<<20)), ErrDamaged},
		{"4 GiB of memory", edit(t, good, kdf("memory_kib", 4<<20)), ErrDamaged},
		{"64 passes over 1 GiB", edit(t, edit(t, good, kdf("memory_kib", 1<<20)), kdf("time", 64)), ErrDamaged},
		{"8 passes over 1 GiB", edit(t, edit(t, good, kdf("memory_kib", 1<<20)), kdf("time", 8)), ErrDamaged},
		{"255 threads", edit(t, edit(t, good, kdf("memory_kib", 1<<20)), kdf("threads", 255)), ErrDamaged},
		{"zero threads", edit(t, good, kdf("threads", 0)), ErrDamaged},
		{"negative threads", edit(t, good, kdf("threads", -1)), ErrDamaged},
		// Authenticated header fields: a change makes the AEAD fail.
		{"other public key", edit(t, good, set("public", []byte(other.Public().(ed25519.PublicKey)))), ErrPassphrase},
		{"other time", edit(t, good, kdf("time", 2)), ErrPassphrase},
		{"other salt", edit(t, good, kdf("salt", make([]byte, saltSize))), ErrPassphrase},
		{"other nonce", edit(t, good, set("nonce", make([]byte, 12))), ErrPassphrase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Unmarshal(tt.data, pass)
			if k != nil || !errors.Is(err, tt.want) {
				t.Fatalf("Unmarshal = %v, want %v", err, tt.want)
			}
			if errors.Is(tt.want, ErrDamaged) || errors.Is(tt.want, ErrVersion) {
				if _, _, err := PublicOf(tt.data); !errors.Is(err, tt.want) {
					t.Fatalf("PublicOf = %v, want %v", err, tt.want)
				}
			}
			if strings.Contains(err.Error(), "{") {
				t.Fatalf("error echoes input: %v", err)
			}
		})
	}
	// Every flipped byte of the ciphertext is caught.
	var f fileJSON
	_ = json.Unmarshal(good, &f)
	for i := range f.Ciphertext {
		g := f
		g.Ciphertext = append([]byte{}, f.Ciphertext...)
		g.Ciphertext[i] ^= 0x01
		data, _ := json.Marshal(g)
		if _, err := Unmarshal(data, pass); !errors.Is(err, ErrPassphrase) {
			t.Fatalf("flipped ciphertext byte %d: %v", i, err)
		}
	}
}

func TestPassphraseEnv(t *testing.T) {
	t.Setenv(EnvPassphrase, "from env")
	p, err := Passphrase("passphrase: ")
	if err != nil || string(p) != "from env" {
		t.Fatalf("Passphrase = %q, %v", p, err)
	}
}

func TestPassphraseNoTerminal(t *testing.T) {
	t.Setenv(EnvPassphrase, "")
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old }()
	if _, err := Passphrase("passphrase: "); !errors.Is(err, ErrNoPass) {
		t.Fatalf("err = %v, want ErrNoPass", err)
	}
}

func FuzzUnmarshal(f *testing.F) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	good, err := Marshal(key, pass, "fuzz", FastParams)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("{}"))
	f.Add(good[:40])
	f.Fuzz(func(t *testing.T, data []byte) {
		if fj, err := parse(data); err == nil && fj.KDF.MemoryKiB*uint32(fj.KDF.Time) > 1<<12 {
			t.Skip("expensive but valid parameters")
		}
		k, err := Unmarshal(data, pass)
		if err == nil {
			if !k.Equal(key) {
				t.Fatal("opened to a different key")
			}
			return
		}
		if k != nil {
			t.Fatal("key returned with an error")
		}
		c := fault.CodeOf(err)
		if c != fault.Invalid && c != fault.Unauthorized {
			t.Fatalf("unexpected code %s: %v", c, err)
		}
	})
}

func TestDefaultParams(t *testing.T) {
	if testing.Short() {
		t.Skip("argon2id at 64 MiB")
	}
	key, _ := Generate()
	path := filepath.Join(t.TempDir(), "k")
	if err := Write(path, key, pass, ""); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !bytes.Contains(data, []byte(`"memory_kib": 65536`)) {
		t.Fatalf("default parameters not recorded:\n%s", data)
	}
	got, err := Read(path, pass)
	if err != nil || !got.Equal(key) {
		t.Fatal(err)
	}
}
