package event

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
)

// Fixed test keys.
var (
	testPriv = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	testPub  = testPriv.Public().(ed25519.PublicKey)
	otherKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	entID    = uuid.MustParse("6f1c3c2e-8a4b-4d7e-9f00-0123456789ab")
	prodID   = uuid.MustParse("0b7f6a3e-1111-4222-8333-444455556666")
	t0       = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
)

func sampleBodies() []struct {
	chain, subject uuid.UUID
	body           Body
} {
	h := strings.Repeat("ab", 32)
	return []struct {
		chain, subject uuid.UUID
		body           Body
	}{
		{uuid.Nil, uuid.Nil, &Genesis{Name: "三同 alliance", Origin: "santong.example/log", RootKey: testPub}},
		{uuid.Nil, prodID, &Certifier{Name: "CQC", Accreditation: "CNCA-R-2002-001"}},
		{uuid.Nil, uuid.Nil, &KeyEnrolment{Key: testPub, Role: RoleOperator, Name: "root"}},
		{entID, entID, &KeyRevocation{Key: KeyIDOf(testPub), From: "2026-03-01T00:00:00.000Z", Reason: "rotated"}},
		{entID, entID, &Enterprise{Name: "四川某食品有限公司", USCC: "91512081MA62K0260E", ExportFiling: "5100600123", Address: "成都 <&> \"quoted\""}},
		{entID, entID, &Declaration{Document: h, Products: []uuid.UUID{prodID}, Standards: []string{"GB 2762"}}},
		{entID, prodID, &Product{Name: "腊肉", Category: "food", GTIN: "09506000134352", ExportStandards: []string{"GB 2730"}, DomesticStandards: []string{"GB 2730"}, Lines: []string{"line 1"}}},
		{entID, prodID, &Audit{Scheme: SchemeSantong, Scope: ScopeProducts, Products: []uuid.UUID{prodID}, Auditors: []string{"王", "李"}, Date: "2026-02-01", Result: ResultPass, Reports: []string{h}}},
		{entID, prodID, &Grant{Audit: prodID, Number: "ST-2026-0001", Scheme: SchemeSantong, Scope: ScopeEnterprise, ValidFrom: "2026-02-02", ValidUntil: "2029-02-01"}},
		{entID, prodID, &Inspection{Certificate: prodID, Date: "2026-05-01", Kind: "random", Draw: 7, Result: ResultFail, Findings: []string{"line\nbreak"}}},
		{entID, prodID, &Complaint{Channel: "12315", Summary: "taste"}},
		{entID, prodID, &ComplaintClosure{Outcome: "unfounded"}},
		{entID, prodID, &Suspension{Reason: "failed inspection", RectifyBy: "2026-06-01"}},
		{entID, prodID, &Reinstatement{Inspection: prodID}},
		{entID, prodID, &Revocation{Reason: "fraud"}},
		{entID, prodID, &Batch{Product: prodID, Certificate: prodID, Lot: "L2026-03", ProductionDate: "2026-03-01", Quantity: 10000, FirstSerial: 1, LabelKey: KeyIDOf(testPub)}},
		{entID, prodID, &Recall{Kind: RecallReturn, Reason: "退运"}},
		{uuid.Nil, prodID, &Draw{Checkpoint: DrawCheckpoint{Origin: "o", Root: make([]byte, 32), Size: 5}, Scheme: SchemeSantong, Count: 1, Inspectors: []string{"a", "b"}, PerTarget: 1, Population: 3, PopulationHash: h, Targets: []DrawTarget{{Enterprise: entID, Inspectors: []string{"b"}}}}},
		{uuid.Nil, prodID, &Regulator{Name: "成都市市场监督管理局", Kind: RegulatorMarket}},
		{uuid.Nil, prodID, &Equivalence{Document: h, Export: "EN 71-3:2019", Domestic: "GB 6675.4-2014"}},
		{entID, prodID, &Application{Attachments: []Attachment{{Kind: AttachApplication, SHA256: h}}, Certifier: entID, Products: []uuid.UUID{prodID}, Scheme: SchemeEcoOrigin, Scope: ScopeProducts}},
		{entID, prodID, &Acceptance{Number: "受理-2026-001"}},
		{entID, prodID, &Rejection{Reasons: []string{"材料不全 documents incomplete", "无出口备案"}}},
		{entID, prodID, &Advance{Step: StepPreliminary, Note: "初评通过"}},
		{entID, prodID, &Decision{Audit: prodID, Certificate: entID, Outcome: OutcomeGranted}},
		{entID, prodID, &Decision{Audit: prodID, Outcome: OutcomeRefused, Reasons: []string{"审核未通过"}}},
		{entID, prodID, &Withdrawal{Reason: "改期申请"}},
		// The commit-then-reveal draw (draw.go).
		{uuid.Nil, prodID, &DrawRequest{Count: 3, DelayRecords: 16, DelaySeconds: 60, Due: "2026-12-31", Inspectors: []string{"张", "李", "王"},
			PerTarget: 2, Period: "2026-Q4", Population: 120, PopulationSHA256: h, Scheme: SchemeSantong, SecretSHA256: h,
			Weights: DrawWeights{Complaints: 3, Days: 1, FailedInspections: 10, Returns: 5}}},
		{uuid.Nil, prodID, &DrawCommit{Commitments: []string{h, h}, Request: 40, SeedRoot: make([]byte, 32), SeedSize: 57}},
		{uuid.Nil, prodID, &DrawReveal{Request: 40, Secret: h}},
		{entID, prodID, &Inspection{Certificate: prodID, Date: "2026-11-01", Kind: "random", Draw: 40, DrawSalt: h, DrawTarget: 2, Inspectors: []string{"李", "王"}, Result: ResultPass}},
		{entID, prodID, &Void{FirstSerial: 101, LastSerial: 200, Reason: VoidNotPrinted, Note: "打印中断 print run interrupted"}},
		{uuid.Nil, prodID, &DrawContribution{Request: 40, SecretSHA256: h}}, // co-drawers (draw.go)
		{uuid.Nil, prodID, &DrawContributionReveal{Request: 40, Secret: h}},
	}
}

func TestRoundTripEveryType(t *testing.T) {
	seen := map[Type]bool{}
	for _, s := range sampleBodies() {
		e := New(s.chain, s.subject, s.body).At(t0)
		b, err := e.Sign(testPriv)
		if err != nil {
			t.Fatalf("%s: sign: %v", s.body.EventType(), err)
		}
		d, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: decode: %v\n%s", s.body.EventType(), err, b)
		}
		if err := d.Verify(testPub); err != nil {
			t.Fatalf("%s: verify: %v", s.body.EventType(), err)
		}
		if err := d.Verify(otherKey.Public().(ed25519.PublicKey)); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("%s: verify with other key: %v", s.body.EventType(), err)
		}
		if !d.Time.Equal(t0) || d.Chain != s.chain || d.Subject != s.subject || !bytes.Equal(d.Bytes(), b) {
			t.Fatalf("%s: decoded differs", s.body.EventType())
		}
		seen[d.Type] = true
	}
	for _, ty := range Types() {
		if !seen[ty] {
			t.Errorf("no sample of %s", ty)
		}
	}
}

// TestBodiesSorted checks that every encoded object has its members in sorted order, which is
// what makes the encoding canonical.
func TestBodiesSorted(t *testing.T) {
	for _, s := range sampleBodies() {
		b, err := New(s.chain, s.subject, s.body).At(t0).Sign(testPriv)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		if err := walkSorted(dec); err != "" {
			t.Errorf("%s: %s", s.body.EventType(), err)
		}
	}
}

// walkSorted reads one JSON value and reports the first object whose members are out of order.
func walkSorted(dec *json.Decoder) string {
	tok, err := dec.Token()
	if err != nil {
		return err.Error()
	}
	switch tok {
	case json.Delim('{'):
		prev := ""
		for dec.More() {
			k, _ := dec.Token()
			key := k.(string)
			if prev != "" && key <= prev {
				return "member " + key + " after " + prev
			}
			prev = key
			if e := walkSorted(dec); e != "" {
				return e
			}
		}
		dec.Token()
	case json.Delim('['):
		for dec.More() {
			if e := walkSorted(dec); e != "" {
				return e
			}
		}
		dec.Token()
	}
	return ""
}

func signed(t testing.TB) []byte {
	t.Helper()
	s := sampleBodies()[4]
	b, err := New(s.chain, s.subject, s.body).At(t0).Sign(testPriv)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeMalformed(t *testing.T) {
	good := string(signed(t))
	repl := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("sample lacks %q", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"not json", "hello", ErrMalformed},
		{"array", "[]", ErrMalformed},
		{"trailing", good + "{}", ErrMalformed},
		{"trailing space", good + " ", ErrNonCanonical},
		{"leading space", " " + good, ErrNonCanonical},
		{"unknown member", repl(`{"actor"`, `{"a":1,"actor"`), ErrUnknownField},
		{"unknown body member", repl(`{"address"`, `{"x":"y","address"`), ErrUnknownField},
		{"unknown type", repl(`"enterprise.registered"`, `"enterprise.deleted"`), ErrUnknownType},
		{"version", repl(`"v":1`, `"v":2`), ErrVersion},
		{"version float", repl(`"v":1`, `"v":1.0`), ErrMalformed},
		{"time offset", repl(`"2026-03-01T08:00:00.000Z"`, `"2026-03-01T16:00:00.000+08:00"`), ErrBadTime},
		{"time no millis", repl(`"2026-03-01T08:00:00.000Z"`, `"2026-03-01T08:00:00Z"`), ErrBadTime},
		{"upper uuid", repl(entID.String(), strings.ToUpper(entID.String())), ErrNonCanonical},
		{"escaped char", repl(`四川`, `\u56db川`), ErrNonCanonical},
		{"html escape", repl(`<&>`, `\u003c&>`), ErrNonCanonical},
		{"reordered", repl(`"type":"enterprise.registered","v":1`, `"v":1,"type":"enterprise.registered"`), ErrNonCanonical},
		{"duplicate member", repl(`"v":1`, `"v":1,"v":1`), ErrNonCanonical},
		{"space", repl(`"v":1`, `"v": 1`), ErrNonCanonical},
		{"bad key id", repl(`"actor":"`, `"actor":"X`), ErrBadKeyID},
		{"no sig", repl(`"sig":"`, `"sog":"`), ErrUnknownField},
		{"bad uscc", repl(`91512081MA62K0260E`, `91512081MA62K0260F`), fault.Field(fault.Invalid, "uscc", "")},
		{"wrong chain", repl(`"chain":"`+entID.String(), `"chain":"`+prodID.String()), fault.Field(fault.Invalid, "subject", "")},
		{"too large", good[:len(good)-1] + strings.Repeat(" ", MaxSize) + "}", ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if err != nil && len(tt.in) > 0 && strings.Contains(err.Error(), tt.in) {
				t.Fatalf("error echoes input")
			}
		})
	}
}

// TestMangleEveryByte changes every byte of a signed event in several ways: each change must be
// refused, by Decode or by Verify.
func TestMangleEveryByte(t *testing.T) {
	good := signed(t)
	for i := range good {
		for _, delta := range []byte{1, 0x20, 0x80, 0xff} {
			b := bytes.Clone(good)
			b[i] ^= delta
			e, err := Decode(b)
			if err == nil {
				err = e.Verify(testPub)
			}
			if err == nil {
				t.Fatalf("byte %d ^ %#x accepted", i, delta)
			}
		}
		// and dropping it
		b := append(bytes.Clone(good[:i]), good[i+1:]...)
		if e, err := Decode(b); err == nil && e.Verify(testPub) == nil {
			t.Fatalf("dropping byte %d accepted", i)
		}
	}
}

func TestKeyID(t *testing.T) {
	id := KeyIDOf(testPub)
	back, err := ParseKeyID(id.String())
	if err != nil || back != id {
		t.Fatal("key id round trip")
	}
	for _, s := range []string{"", strings.ToUpper(id.String()), id.String() + "0", "zzzzzzzzzzzzzzzz"} {
		if _, err := ParseKeyID(s); err == nil {
			t.Errorf("ParseKeyID(%q) accepted", s)
		}
	}
}

func TestValidateRefuses(t *testing.T) {
	tests := []struct {
		name  string
		body  Body
		field string
	}{
		{"gtin", &Product{Name: "x", Category: "food", GTIN: "09506000134353", ExportStandards: []string{"a"}, DomesticStandards: []string{"a"}, Lines: []string{"l"}}, "gtin"},
		{"category", &Product{Name: "x", Category: "toys", ExportStandards: []string{"a"}, DomesticStandards: []string{"a"}, Lines: []string{"l"}}, "category"},
		{"audit result", &Audit{Scheme: SchemeSantong, Scope: ScopeEnterprise, Auditors: []string{"a"}, Date: "2026-01-01", Result: "ok"}, "result"},
		{"audit scope products", &Audit{Scheme: SchemeSantong, Scope: ScopeProducts, Auditors: []string{"a"}, Date: "2026-01-01", Result: "pass"}, "products"},
		{"scheme", &Audit{Scheme: "iso", Scope: ScopeEnterprise, Auditors: []string{"a"}, Date: "2026-01-01", Result: "pass"}, "scheme"},
		{"date", &Audit{Scheme: SchemeSantong, Scope: ScopeEnterprise, Auditors: []string{"a"}, Date: "2026-02-30", Result: "pass"}, "date"},
		{"validity", &Grant{Audit: prodID, Number: "n", Scheme: SchemeSantong, Scope: ScopeEnterprise, ValidFrom: "2026-02-02", ValidUntil: "2026-02-01"}, "valid_until"},
		{"quantity", &Batch{Product: prodID, Certificate: prodID, Lot: "l", ProductionDate: "2026-01-01", Quantity: 0, LabelKey: KeyIDOf(testPub)}, "quantity"},
		{"serial overflow", &Batch{Product: prodID, Certificate: prodID, Lot: "l", ProductionDate: "2026-01-01", Quantity: 2, FirstSerial: maxSafe - 1, LabelKey: KeyIDOf(testPub)}, "first_serial"},
		{"recall kind", &Recall{Kind: "lost", Reason: "r"}, "kind"},
		{"key role", &KeyEnrolment{Key: testPub, Role: "admin"}, "role"},
		{"hash", &Declaration{Document: "AB", Products: []uuid.UUID{prodID}, Standards: []string{"s"}}, "document_sha256"},
		{"repeated product", &Declaration{Document: strings.Repeat("a", 64), Products: []uuid.UUID{prodID, prodID}, Standards: []string{"s"}}, "products"},
	}
	for _, tt := range tests {
		err := tt.body.Validate()
		if err == nil || fault.FieldOf(err) != tt.field || fault.CodeOf(err) != fault.Invalid {
			t.Errorf("%s: got %v, want field %s", tt.name, err, tt.field)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range sampleBodies() {
		b, err := New(s.chain, s.subject, s.body).At(t0).Sign(testPriv)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, r := range []string{`\u2020`, "<>&", "\x00\x1f\x7f", `\/`, "𝄞", `"\`} {
		b, err := New(entID, prodID, &Revocation{Reason: r}).At(t0).Sign(testPriv)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"actor":"0000000000000000","body":{},"chain":"00000000-0000-0000-0000-000000000000"}`))
	withPrev := New(entID, prodID, &Revocation{Reason: "r"}).At(t0)
	withPrev.Prev = &[32]byte{1, 2, 3}
	if b, err := withPrev.Sign(testPriv); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast := decodeFast(b)
		slow, serr := decode(b)
		if (fast != nil) != (serr == nil) {
			t.Fatalf("fast path accepts: %v, slow path error: %v", fast != nil, serr)
		}
		if fast != nil {
			fm, _ := fast.SigningMessage()
			sm, _ := slow.SigningMessage()
			if !bytes.Equal(fm, sm) || fast.Actor != slow.Actor || fast.Chain != slow.Chain || fast.Subject != slow.Subject ||
				!fast.Time.Equal(slow.Time) || fast.Type != slow.Type || !bytes.Equal(fast.Sig, slow.Sig) {
				t.Fatal("fast and slow paths decode differently")
			}
		}
		e, err := Decode(b)
		if err != nil {
			if fault.CodeOf(err) == fault.Internal {
				t.Fatalf("internal error: %v", err)
			}
			return
		}
		// What decodes re-encodes to the same bytes, and only a genuine signature verifies.
		w, err := e.wire()
		if err != nil {
			t.Fatal(err)
		}
		again, _ := canonical(w)
		if !bytes.Equal(again, b) {
			t.Fatal("decoded event does not re-encode to its bytes")
		}
		if e.Verify(testPub) == nil && e.Actor != KeyIDOf(testPub) {
			t.Fatal("verified with a key that is not the actor")
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	ev := signed(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeVerify(b *testing.B) {
	ev := signed(b)
	for b.Loop() {
		e, err := Decode(ev)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Verify(testPub); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSigningMessageFromBytes(t *testing.T) {
	for _, s := range sampleBodies() {
		e := New(s.chain, s.subject, s.body).At(t0)
		b, err := e.Sign(testPriv)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if d2 := decodeFast(b); d2 == nil {
			t.Fatalf("%s: fast path refuses a canonical event", s.body.EventType())
		}
		d.msg = nil
		want, _ := d.SigningMessage()
		d2, _ := Decode(b)
		got, _ := d2.SigningMessage()
		if d2.msg == nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: signing message cut from the bytes differs", s.body.EventType())
		}
	}
}
