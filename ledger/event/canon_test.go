package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
)

// TestTrickyStrings: every string either signs and then decodes to the same bytes and the same
// body, or is refused by Sign with a field error. Sign never produces what Decode refuses.
func TestTrickyStrings(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // the string's encoding in the event; "" when Sign must refuse it
	}{
		{"backslash u2020 (six characters)", `\u2020`, `"\\u2020"`},
		{"backslash u2028 (six characters)", `\u2028`, `"\\u2028"`},
		{"backslash u00e9", `\u00e9`, `"\\u00e9"`},
		{"dagger U+2020", "\u2020", "\"\u2020\""},
		{"line separator U+2028", "a\u2028b", ""},
		{"paragraph separator U+2029", "a\u2029b", ""},
		{"html", `<a href="x">&amp;</a>`, `"<a href=\"x\">&amp;</a>"`},
		{"invalid UTF-8", "a\xffb", ""},
		{"UTF-8 of a surrogate", "\xed\xa0\x80", ""},
		{"overlong slash", "\xc0\xaf", ""},
		{"control characters", "\x00\x01\x08\x09\x0a\x0c\x0d\x1f\x7f", `"\u0000\u0001\b\t\n\f\r\u001f` + "\x7f" + `"`},
		{"escaped slash text", `\/`, `"\\/"`},
		{"slash", "a/b", `"a/b"`},
		{"surrogate escape text", `\ud834\udd1e`, `"\\ud834\\udd1e"`},
		{"non-BMP", "𝄞😀", `"𝄞😀"`},
		{"replacement character", "\ufffd", "\"\ufffd\""},
		{"quotes and backslashes", `"\"\\`, `"\"\\\"\\\\"`},
		{"BOM", "\ufeffx", "\"\ufeffx\""},
		{"noncharacter", "\uffff", "\"\uffff\""},
		{"envelope lookalike", `","type":"cert.revoked","v":1}`, `"\",\"type\":\"cert.revoked\",\"v\":1}"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bodies := []struct {
				chain, subject uuid.UUID
				body           Body
			}{
				{entID, prodID, &Revocation{Reason: tt.in}},
				{entID, prodID, &Product{Name: "n", Category: "food", ExportStandards: []string{tt.in}, DomesticStandards: []string{"d"}, Lines: []string{"l", tt.in}}},
				{uuid.Nil, prodID, &Draw{Checkpoint: DrawCheckpoint{Origin: "o", Root: make([]byte, 32), Size: 5}, Scheme: SchemeSantong, Count: 1,
					Inspectors: []string{"a"}, PerTarget: 1, Population: 3, PopulationHash: strings.Repeat("0", 64),
					Targets: []DrawTarget{{Enterprise: entID, Inspectors: []string{tt.in}}}}},
			}
			for _, s := range bodies {
				b, err := New(s.chain, s.subject, s.body).At(t0).Sign(testPriv)
				if tt.want == "" {
					if err == nil || fault.CodeOf(err) != fault.Invalid || fault.FieldOf(err) == "" {
						t.Fatalf("%s: signed, or refused without a field error: %v", s.body.EventType(), err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: sign: %v", s.body.EventType(), err)
				}
				if !bytes.Contains(b, []byte(tt.want)) {
					t.Fatalf("%s: encoding lacks %s:\n%s", s.body.EventType(), tt.want, b)
				}
				d, err := Decode(b)
				if err != nil {
					t.Fatalf("%s: signed event does not decode: %v\n%s", s.body.EventType(), err, b)
				}
				if !bytes.Equal(d.Bytes(), b) || !reflect.DeepEqual(d.Body, s.body) || d.Verify(testPub) != nil {
					t.Fatalf("%s: decoded event differs", s.body.EventType())
				}
			}
		})
	}
}

// TestDecodeNonCanonical: encodings that JSON readers accept but that are not the canonical
// form of what they hold are refused, by the canonical reader and by the reference decoder.
func TestDecodeNonCanonical(t *testing.T) {
	rev := func(reason string) string {
		b, err := New(entID, prodID, &Revocation{Reason: "R"}).At(t0).Sign(testPriv)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Replace(string(b), `"reason":"R"`, `"reason":"`+reason+`"`, 1)
	}
	sample := func(i int) string {
		s := sampleBodies()[i]
		b, err := New(s.chain, s.subject, s.body).At(t0).Sign(testPriv)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	repl := func(i int, old, new string) string {
		good := sample(i)
		if !strings.Contains(good, old) {
			t.Fatalf("sample %d lacks %q", i, old)
		}
		return strings.Replace(good, old, new, 1)
	}
	const genesis, product, inspection, batch, draw = 0, 6, 9, 15, 17
	tests := []struct {
		name string
		in   string
	}{
		{"escaped letter", rev(`\u0041`)},
		{"escaped slash", rev(`\/`)},
		{"escaped U+2028", rev(`\u2028`)},
		{"escaped U+2029", rev(`\u2029`)},
		{"raw U+2028", rev("\u2028")},
		{"escaped dagger", rev(`\u2020`)},
		{"surrogate pair escape", rev(`\ud834\udd1e`)},
		{"lone surrogate escape", rev(`\ud800`)},
		{"upper-case hex escape", rev(`\u001F`)},
		{"long form of \\b", rev(`\u0008`)},
		{"long form of \\n", rev(`\u000a`)},
		{"escaped DEL", rev(`\u007f`)},
		{"raw control character", rev("\x01")},
		{"raw tab", rev("\t")},
		{"raw invalid UTF-8", rev("\xff")},
		{"raw overlong", rev("\xc0\xaf")},
		{"raw UTF-8 surrogate", rev("\xed\xa0\x80")},
		{"bad escape", rev(`\x`)},
		{"truncated escape", rev(`\u00`)},
		{"escaped member name", repl(product, `"name":`, `"n\u0061me":`)},
		{"upper-case member name", repl(product, `"name":`, `"Name":`)},
		{"empty omitempty string", repl(product, `"gtin":"09506000134352",`, `"gtin":"",`)},
		{"missing member", repl(product, `"category":"food",`, ``)},
		{"null string", repl(product, `"category":"food"`, `"category":null`)},
		{"null required list", repl(product, `"lines":["line 1"]`, `"lines":null`)},
		{"empty omitempty list", repl(inspection, `"findings":["line\nbreak"]`, `"findings":[]`)},
		{"null omitempty list", repl(inspection, `"findings":["line\nbreak"]`, `"findings":null`)},
		{"zero omitempty integer", repl(inspection, `"draw":7`, `"draw":0`)},
		{"leading zero", repl(batch, `"quantity":10000`, `"quantity":010000`)},
		{"exponent", repl(batch, `"quantity":10000`, `"quantity":1e4`)},
		{"fraction", repl(batch, `"quantity":10000`, `"quantity":10000.0`)},
		{"plus sign", repl(batch, `"first_serial":1`, `"first_serial":+1`)},
		{"negative zero", repl(batch, `"first_serial":1`, `"first_serial":-0`)},
		{"integer as string", repl(batch, `"first_serial":1`, `"first_serial":"1"`)},
		{"huge integer", repl(batch, `"quantity":10000`, `"quantity":100000000000000000000`)},
		{"upper-case body UUID", repl(batch, `"product":"`+prodID.String(), `"product":"`+strings.ToUpper(prodID.String()))},
		{"braced body UUID", repl(batch, `"product":"`+prodID.String()+`"`, `"product":"{`+prodID.String()+`}"`)},
		{"unhyphenated body UUID", repl(batch, `"product":"`+prodID.String()+`"`, `"product":"`+strings.ReplaceAll(prodID.String(), "-", "")+`"`)},
		{"upper-case body key id", repl(batch, `"label_key":"`+KeyIDOf(testPub).String(), `"label_key":"`+strings.ToUpper(KeyIDOf(testPub).String()))},
		{"base64 with newline", repl(draw, `"root":"AAAA`, `"root":"AAAA\n`)},
		{"base64 without padding", repl(draw, `AAAAAAA=","size"`, `AAAAAAA","size"`)},
		{"base64 with stray bits", repl(draw, `AAAAAAA=","size"`, `AAAAAAB=","size"`)},
		{"base64 URL alphabet", repl(genesis, `"root_key":"`, `"root_key":"-_`)},
		{"space in body", repl(product, `"name":`, `"name": `)},
		{"space in list", repl(product, `["line 1"]`, `[ "line 1"]`)},
		{"trailing comma", repl(product, `["line 1"]`, `["line 1",]`)},
		{"nested object reordered", repl(draw, `{"origin":"o","root":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","size":5}`, `{"root":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","origin":"o","size":5}`)},
		{"duplicate body member", repl(product, `"name":"腊肉"`, `"name":"腊肉","name":"腊肉"`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.in)
			if decodeFast(b) != nil {
				t.Fatal("canonical reader accepts it")
			}
			if _, err := decode(b); err == nil {
				t.Fatal("reference decoder accepts it")
			}
			_, err := Decode(b)
			if err == nil || fault.CodeOf(err) != fault.Invalid {
				t.Fatalf("Decode: %v", err)
			}
		})
	}
}

// TestReaderAgreesOnMangledBytes: every byte of every sample event changed four ways and
// dropped; the canonical reader and the reference decoder accept exactly the same inputs.
func TestReaderAgreesOnMangledBytes(t *testing.T) {
	for _, s := range sampleBodies() {
		good, err := New(s.chain, s.subject, s.body).At(t0).Sign(testPriv)
		if err != nil {
			t.Fatal(err)
		}
		check := func(b []byte, what string) {
			fast := decodeFast(b)
			_, serr := decode(b)
			if (fast != nil) != (serr == nil) {
				t.Fatalf("%s %s: canonical reader accepts: %v, reference error: %v\n%q", s.body.EventType(), what, fast != nil, serr, b)
			}
		}
		for i := range good {
			for _, delta := range []byte{1, 0x20, 0x80, 0xff} {
				b := bytes.Clone(good)
				b[i] ^= delta
				check(b, "mangled")
			}
			check(append(bytes.Clone(good[:i]), good[i+1:]...), "dropped")
		}
	}
}

// FuzzSignDecode: whatever Sign produces, Decode accepts, giving back the same bytes and body;
// whatever Sign refuses, it refuses as the caller's fault (a field error), never as a bug.
func FuzzSignDecode(f *testing.F) {
	for _, s := range []string{`\u2020`, "\u2028", "\u2029", "<>&", "\xff", "\x00\x1f\x7f", `\/`, `\ud834\udd1e`, "𝄞", `"\`} {
		f.Add(s, "x", int64(1))
	}
	f.Fuzz(func(t *testing.T, s1, s2 string, n int64) {
		bodies := []struct {
			chain, subject uuid.UUID
			body           Body
		}{
			{entID, prodID, &Revocation{Reason: s1}},
			{entID, prodID, &Recall{Kind: RecallRecall, Reason: s2}},
			{entID, entID, &Enterprise{Name: s1, USCC: "91512081MA62K0260E", ExportFiling: s2, Address: s1 + s2}},
			{entID, prodID, &Product{Name: s2, Category: "food", ExportStandards: []string{s1}, DomesticStandards: []string{s2}, Lines: []string{s1, s2}}},
			{entID, prodID, &Inspection{Certificate: prodID, Date: "2026-05-01", Kind: "random", Draw: n, Result: ResultFail, Findings: []string{s1}}},
			{entID, prodID, &Batch{Product: prodID, Certificate: prodID, Lot: s1, ProductionDate: "2026-03-01", Quantity: n, FirstSerial: n / 2, LabelKey: KeyIDOf(testPub)}},
			{uuid.Nil, prodID, &Draw{Checkpoint: DrawCheckpoint{Origin: s2, Root: make([]byte, 32), Size: 5}, Scheme: SchemeSantong, Count: 1,
				Inspectors: []string{s1}, PerTarget: 1, Population: 3, PopulationHash: strings.Repeat("0", 64),
				Targets: []DrawTarget{{Enterprise: entID, Inspectors: []string{s2}}}}},
		}
		for _, s := range bodies {
			b, err := New(s.chain, s.subject, s.body).At(t0).Sign(testPriv)
			if err != nil {
				if fault.CodeOf(err) != fault.Invalid && !errors.Is(err, ErrTooLarge) {
					t.Fatalf("%s: sign refused with %v", s.body.EventType(), err)
				}
				continue
			}
			d, err := Decode(b)
			if err != nil {
				t.Fatalf("%s: signed event does not decode: %v\n%q", s.body.EventType(), err, b)
			}
			if !bytes.Equal(d.Bytes(), b) || !reflect.DeepEqual(d.Body, s.body) || d.Verify(testPub) != nil {
				t.Fatalf("%s: decoded event differs", s.body.EventType())
			}
			if !isJCS(b) {
				t.Fatalf("%s: signed event is not RFC 8785:\n%q", s.body.EventType(), b)
			}
		}
	})
}

// jcs is an independent RFC 8785 serializer for the values encoding/json decodes (with
// UseNumber): the check that what Sign writes is JCS, as docs/events.md says.
func jcs(buf *bytes.Buffer, v any) {
	switch v := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(v))
	case json.Number:
		// events hold integers of magnitude at most 2^53-1, which ES6 writes in plain decimal
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || n > maxSafe || n < -maxSafe {
			buf.WriteString("<not an integer in the safe range>")
		}
		buf.WriteString(strconv.FormatInt(n, 10))
	case string:
		buf.WriteByte('"')
		for _, r := range v {
			switch {
			case r == '"' || r == '\\':
				buf.WriteByte('\\')
				buf.WriteRune(r)
			case r == '\b':
				buf.WriteString(`\b`)
			case r == '\t':
				buf.WriteString(`\t`)
			case r == '\n':
				buf.WriteString(`\n`)
			case r == '\f':
				buf.WriteString(`\f`)
			case r == '\r':
				buf.WriteString(`\r`)
			case r < 0x20:
				fmt.Fprintf(buf, `\u%04x`, r)
			default:
				buf.WriteRune(r)
			}
		}
		buf.WriteByte('"')
	case []any:
		buf.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			jcs(buf, x)
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		// RFC 8785 sorts member names by their UTF-16 code units
		slices.SortFunc(keys, func(a, b string) int { return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b))) })
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			jcs(buf, k)
			buf.WriteByte(':')
			jcs(buf, v[k])
		}
		buf.WriteByte('}')
	}
}

// isJCS reports whether b is the RFC 8785 form of the JSON value it holds.
func isJCS(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil || !utf8.Valid(b) {
		return false
	}
	var buf bytes.Buffer
	jcs(&buf, v)
	return bytes.Equal(buf.Bytes(), b)
}

// TestSignedIsJCS: every sample event, and the awkward strings, are written in RFC 8785 form,
// so that a client can sign with any JCS library.
func TestSignedIsJCS(t *testing.T) {
	for _, s := range sampleBodies() {
		b, err := New(s.chain, s.subject, s.body).At(t0).Sign(testPriv)
		if err != nil {
			t.Fatal(err)
		}
		if !isJCS(b) {
			t.Errorf("%s: not RFC 8785:\n%s", s.body.EventType(), b)
		}
	}
	for _, r := range []string{`\u2020`, "\x00\x01\x08\x09\x0a\x0c\x0d\x1f\x7f", `<>&"\/`, "𝄞\ufffd\ufeff\uffff"} {
		b, err := New(entID, prodID, &Revocation{Reason: r}).At(t0).Sign(testPriv)
		if err != nil {
			t.Fatal(err)
		}
		if !isJCS(b) {
			t.Errorf("%q: not RFC 8785:\n%s", r, b)
		}
	}
	// and the check can fail
	for _, b := range []string{`{"b":1,"a":2}`, `{"a":"\u0041"}`, `{"a":"\u2028"}`, `{"a": 1}`, `{"a":1.0}`} {
		if isJCS([]byte(b)) {
			t.Errorf("%s taken for RFC 8785", b)
		}
	}
}

func TestAppendUUID(t *testing.T) {
	for _, u := range []uuid.UUID{uuid.Nil, entID, prodID, uuid.Max, uuid.New()} {
		if got := string(appendUUID(nil, u)); got != u.String() {
			t.Errorf("appendUUID %s, want %s", got, u)
		}
	}
}

func TestHasSeparator(t *testing.T) {
	for s, want := range map[string]bool{
		"": false, "\u2028": true, "\u2029": true, "a\u2028": true, "\u2029b": true, "x\u2027\u2028": true,
		"\u2027": false, "\u202a": false, "\u2020\u2020": false, "\xe2\x80": false, "\xe2": false, "腊肉": false,
		"\xe2\xe2\x80\xa8": true,
	} {
		if got := hasSeparator(s); got != want {
			t.Errorf("hasSeparator(%q) = %v", s, got)
		}
	}
}

// synth has a field of every kind the canonical reader knows, omitempty and not.
type synth struct {
	A bool           `json:"a,omitempty"`
	B bool           `json:"b"`
	C int64          `json:"c,omitempty"`
	D []byte         `json:"d,omitempty"`
	E []DrawTarget   `json:"e"`
	F string         `json:"f,omitempty"`
	G []string       `json:"g,omitempty"`
	H uuid.UUID      `json:"h"`
	I int            `json:"i"`
	K KeyID          `json:"k"`
	N DrawCheckpoint `json:"n"`
	R Role           `json:"r"`
	U []uuid.UUID    `json:"u"`
	W []byte         `json:"w"`
}

var synthSchema = schemaOf(reflect.TypeFor[synth]())

// FuzzReader: on a struct with every kind of field, the canonical reader accepts exactly what
// encoding/json decodes and re-encodes to the same bytes, and reads it alike.
func FuzzReader(f *testing.F) {
	for _, v := range []synth{
		{},
		{A: true, B: true, C: -5, D: []byte{1, 2}, E: []DrawTarget{{Enterprise: entID, Inspectors: []string{"a", `\u2020`}}}, F: "<>&\x7f\x01",
			G: []string{"x", ""}, H: prodID, I: maxSafe, K: KeyIDOf(testPub), N: DrawCheckpoint{Origin: "o", Root: []byte{}, Size: 3},
			R: RoleLabel, U: []uuid.UUID{}, W: []byte("hello")},
		{E: []DrawTarget{}, G: []string{"𝄞"}, U: []uuid.UUID{entID, prodID}, I: -maxSafe},
	} {
		b, err := canonical(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		// and near misses: every value written another way that JSON readers accept
		for _, m := range [][2]string{
			{`"a":true`, `"a":false`}, {`"b":false`, `"b":0`}, {`"c":-5`, `"c":0`}, {`"c":-5`, `"c":-05`},
			{`"d":"AQI="`, `"d":""`}, {`"d":"AQI="`, `"d":null`}, {`"d":"AQI="`, `"d":"AQI"`}, {`"d":"AQI="`, `"d":"AQM="`},
			{`"e":[]`, `"e":null`}, {`"f":"<>&`, `"f":"\u003c>&`}, {`"f":"<>&`, `"f":"\/>&`}, {`"g":["x",""]`, `"g":[]`},
			{`"g":["𝄞"]`, `"g":["\ud834\udd1e"]`}, {`"i":0`, `"i":-0`}, {`"i":0`, `"i":0.0`}, {`"i":0`, `"i":9007199254740992`},
			{`"r":""`, `"r":null`}, {`"u":null`, `"u":[]`}, {`"w":null`, `"w":""`}, {`\u0001`, `\u0001\u007f`},
		} {
			if bytes.Contains(b, []byte(m[0])) {
				f.Add(bytes.Replace(b, []byte(m[0]), []byte(m[1]), 1))
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got synth
		r := reader{b: b}
		ok := r.value(synthSchema, reflect.ValueOf(&got).Elem()) && r.i == len(b)
		var want synth
		err := json.Unmarshal(b, &want)
		again, _ := canonical(want)
		// integers beyond 2^53-1 are outside the subset (for bodies, Validate refuses them)
		safe := func(n int64) bool { return -maxSafe <= n && n <= maxSafe }
		ref := err == nil && bytes.Equal(again, b) && safe(want.C) && safe(int64(want.I)) && safe(want.N.Size)
		if ok != ref {
			t.Fatalf("reader accepts: %v, reference accepts: %v (%v)\n%q", ok, ref, err, b)
		}
		if ok && !reflect.DeepEqual(got, want) {
			t.Fatalf("reader reads %+v, reference %+v", got, want)
		}
	})
}

// TestSchemaRefuses: a body type that the canonical reader could not read exactly stops the
// package from loading, instead of being read loosely.
func TestSchemaRefuses(t *testing.T) {
	type unsorted struct {
		B string `json:"b"`
		A string `json:"a"`
	}
	type float struct {
		F float64 `json:"f"`
	}
	type mapped struct {
		M map[string]string `json:"m"`
	}
	type pointer struct {
		P *string `json:"p"`
	}
	type omitzero struct {
		S string `json:"s,omitzero"`
	}
	type upper struct {
		S string `json:"S"`
	}
	type untagged struct {
		S string
	}
	type marshals struct {
		T time.Time `json:"t"`
	}
	type unsigned struct {
		U uint64 `json:"u"`
	}
	for _, v := range []any{unsorted{}, float{}, mapped{}, pointer{}, omitzero{}, upper{}, untagged{}, marshals{}, unsigned{}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%T: schema built", v)
				}
			}()
			schemaOf(reflect.TypeOf(v))
		}()
	}
	for ty := range bodies {
		if bodySchemas[ty] == nil {
			t.Errorf("%s: no schema", ty)
		}
	}
}
