package main

import (
	"io"
	"strings"
	"testing"
)

// TestNewPassphrase: a passphrase that will encrypt new keys is typed twice at a terminal, and
// two that differ are refused; the environment wins over the prompt.
func TestNewPassphrase(t *testing.T) {
	answers := []string{}
	old := prompt
	defer func() { prompt = old }()
	prompt = func(string) ([]byte, error) {
		a := answers[0]
		answers = answers[1:]
		return []byte(a), nil
	}
	env := map[string]string{}
	c := &cli{stdout: io.Discard, stderr: io.Discard, tty: true, getenv: func(k string) string { return env[k] }}

	answers = []string{"correct horse", "correct horse"}
	if p, err := c.newPassphrase("", "x"); err != nil || string(p) != "correct horse" {
		t.Fatalf("matching passphrases: %q, %v", p, err)
	}
	answers = []string{"correct horse", "correct hose"}
	if _, err := c.newPassphrase("", "x"); err == nil || !strings.Contains(err.Error(), "differ") {
		t.Fatalf("differing passphrases: %v", err)
	}
	answers = []string{""}
	if _, err := c.newPassphrase("", "x"); err == nil {
		t.Fatal("an empty passphrase was accepted")
	}
	env["SANTONG_PASSPHRASE"] = "from env"
	env["SANTONG_KEY_PASSPHRASE"] = "key env"
	if p, err := c.newPassphrase("SANTONG_KEY_PASSPHRASE", "x"); err != nil || string(p) != "key env" {
		t.Fatalf("key env: %q, %v", p, err)
	}
	if p, err := c.newPassphrase("", "x"); err != nil || string(p) != "from env" {
		t.Fatalf("env: %q, %v", p, err)
	}
	c.tty, env = false, map[string]string{}
	if _, err := c.newPassphrase("", "x"); err == nil || !strings.Contains(err.Error(), "no passphrase") {
		t.Fatalf("no terminal, no env: %v", err)
	}
}
