// Command drawcheck derives a commit-then-reveal draw (santong/draw/v2, or v3 with co-drawers) from the documented
// formats alone, with the standard library only: it is the independent program of
// TestDrawIndependentProgram, written from docs/events.md ("The commit-then-reveal draw") and
// docs/ledger.md (record leaf hash, checkpoint note), not from Santong's code.
//
//	go run ./ledger/cert/testdata/drawcheck < input.json
//
// input: {"log_key": verifier key, "checkpoint": signed note of the seed tree, "request": base64
// record bytes, "plan": {...}, "secret": hex, "population": [{enterprise, returns, complaints,
// failed_inspections, days_since_inspection}], and for v3 "co_secrets": hex secrets and
// "contributions": base64 draw.contributed record bytes, both in the order of the plan's
// co_drawers}. Output: {"population_sha256", "targets":
// [{"enterprise", "inspectors", "commitment"}]}.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

type candidate struct {
	Enterprise string `json:"enterprise"`
	Returns    uint32 `json:"returns"`
	Complaints uint32 `json:"complaints"`
	Failed     uint32 `json:"failed_inspections"`
	Days       uint32 `json:"days_since_inspection"`
	id         []byte
}

type input struct {
	LogKey     string `json:"log_key"`
	Checkpoint string `json:"checkpoint"`
	Request    []byte `json:"request"`
	Plan       struct {
		Count      int      `json:"count"`
		PerTarget  int      `json:"per_target"`
		Inspectors []string `json:"inspectors"`
		Weights    struct {
			Returns, Complaints, Days int64
			Failed                    int64 `json:"failed_inspections"`
		} `json:"weights"`
		SecretSHA256 string   `json:"secret_sha256"`
		CoDrawers    []string `json:"co_drawers"`
	} `json:"plan"`
	Secret        string      `json:"secret"`
	Population    []candidate `json:"population"`
	CoSecrets     []string    `json:"co_secrets"`
	Contributions [][]byte    `json:"contributions"`
}

func fail(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "drawcheck: "+f+"\n", a...)
	os.Exit(1)
}

// root verifies the checkpoint note with the verifier key (name+hash+base64(0x01 ‖ pub)) and
// returns its root hash (line 3).
func root(note, vkey string) []byte {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		fail("bad log key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 1 {
		fail("bad log key")
	}
	pub := ed25519.PublicKey(raw[1:])
	text, sigs, ok := strings.Cut(note, "\n\n")
	if !ok {
		fail("bad note")
	}
	text += "\n"
	verified := false
	for _, line := range strings.Split(strings.TrimSuffix(sigs, "\n"), "\n") {
		rest, ok := strings.CutPrefix(line, "\u2014 "+parts[0]+" ")
		if !ok {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(rest)
		if err == nil && len(sig) == 4+64 && ed25519.Verify(pub, []byte(text), sig[4:]) {
			verified = true
		}
	}
	if !verified {
		fail("the checkpoint does not verify with the log key")
	}
	lines := strings.Split(text, "\n")
	r, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(r) != 32 {
		fail("bad checkpoint root")
	}
	return r
}

type stream struct {
	seed [32]byte
	j    uint64
	buf  []byte
}

func (s *stream) next() uint64 {
	if len(s.buf) == 0 {
		var in [40]byte
		copy(in[:], s.seed[:])
		binary.BigEndian.PutUint64(in[32:], s.j)
		s.j++
		h := sha256.Sum256(in[:])
		s.buf = h[:]
	}
	x := binary.BigEndian.Uint64(s.buf)
	s.buf = s.buf[8:]
	return x
}

func (s *stream) uniform(n uint64) uint64 {
	max := ^uint64(0)
	limit := max - (max%n+1)%n
	for {
		if x := s.next(); x <= limit {
			return x % n
		}
	}
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fail("read input: %v", err)
	}
	r := root(in.Checkpoint, in.LogKey)
	leaf := sha256.Sum256(append([]byte{0}, in.Request...))
	secret, err := hex.DecodeString(in.Secret)
	if err != nil || len(secret) != 32 {
		fail("bad secret")
	}
	if h := sha256.Sum256(secret); hex.EncodeToString(h[:]) != in.Plan.SecretSHA256 {
		fail("the secret is not the one the request committed to")
	}
	// The plan must be the one in the request record: it is in the record's payload.
	if !bytes.Contains(in.Request, []byte(in.Plan.SecretSHA256)) {
		fail("the request record does not commit to this secret")
	}
	seedIn := append(append(append([]byte("santong/draw/v2\n"), leaf[:]...), r...), secret...)
	if len(in.Plan.CoDrawers) > 0 { // v3: every co-drawer's secret, in the request's order
		if len(in.CoSecrets) != len(in.Plan.CoDrawers) || len(in.Contributions) != len(in.Plan.CoDrawers) {
			fail("one secret and one contribution record per co-drawer")
		}
		seedIn = append(append(append([]byte("santong/draw/v3\n"), leaf[:]...), r...), secret...)
		for i, cs := range in.CoSecrets {
			b, err := hex.DecodeString(cs)
			if err != nil || len(b) != 32 {
				fail("bad co-drawer secret")
			}
			h := sha256.Sum256(b)
			if !bytes.Contains(in.Contributions[i], []byte(`"secret_sha256":"`+hex.EncodeToString(h[:])+`"`)) ||
				!bytes.Contains(in.Contributions[i], []byte(`"type":"draw.contributed"`)) {
				fail("co-drawer %d's secret is not the one its contribution committed to", i+1)
			}
			seedIn = append(seedIn, b...)
		}
	}
	seed := sha256.Sum256(seedIn)
	s := &stream{seed: seed}

	pop := in.Population
	for i := range pop {
		id, err := hex.DecodeString(strings.ReplaceAll(pop[i].Enterprise, "-", ""))
		if err != nil || len(id) != 16 {
			fail("bad enterprise id")
		}
		pop[i].id = id
	}
	sort.Slice(pop, func(i, j int) bool { return bytes.Compare(pop[i].id, pop[j].id) < 0 })
	ph := sha256.New()
	w := make([]uint64, len(pop))
	var total uint64
	for i, c := range pop {
		var b [16]byte
		binary.BigEndian.PutUint32(b[0:], c.Returns)
		binary.BigEndian.PutUint32(b[4:], c.Complaints)
		binary.BigEndian.PutUint32(b[8:], c.Failed)
		binary.BigEndian.PutUint32(b[12:], c.Days)
		ph.Write(c.id)
		ph.Write(b[:])
		days := int64(c.Days)
		if days > 3650 {
			days = 3650
		}
		ws := in.Plan.Weights
		w[i] = uint64(1 + ws.Returns*int64(c.Returns) + ws.Complaints*int64(c.Complaints) + ws.Failed*int64(c.Failed) + ws.Days*(days/30))
		total += w[i]
	}
	k := in.Plan.Count
	if k > len(pop) {
		k = len(pop)
	}
	var picked []int
	for n := 0; n < k; n++ {
		x := s.uniform(total)
		var run uint64
		for i := range pop {
			run += w[i]
			if run > x {
				picked = append(picked, i)
				total -= w[i]
				w[i] = 0
				break
			}
		}
	}
	pool := append([]string(nil), in.Plan.Inspectors...)
	sort.Strings(pool)
	type target struct {
		Enterprise string   `json:"enterprise"`
		Inspectors []string `json:"inspectors"`
		Commitment string   `json:"commitment"`
	}
	out := struct {
		PopulationSHA256 string   `json:"population_sha256"`
		Targets          []target `json:"targets"`
	}{PopulationSHA256: hex.EncodeToString(ph.Sum(nil))}
	for n, i := range picked {
		q := append([]string(nil), pool...)
		for m := 0; m < in.Plan.PerTarget; m++ {
			j := m + int(s.uniform(uint64(len(q)-m)))
			q[m], q[j] = q[j], q[m]
		}
		var ib [8]byte
		binary.BigEndian.PutUint64(ib[:], uint64(n))
		salt := sha256.Sum256(append(append([]byte("santong/draw/salt/v1\n"), secret...), ib[:]...))
		c := sha256.New()
		c.Write([]byte("santong/draw/target/v1\n"))
		c.Write(salt[:])
		c.Write(pop[i].id)
		c.Write([]byte(strings.Join(q[:in.Plan.PerTarget], "\n")))
		out.Targets = append(out.Targets, target{pop[i].Enterprise, q[:in.Plan.PerTarget], hex.EncodeToString(c.Sum(nil))})
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
