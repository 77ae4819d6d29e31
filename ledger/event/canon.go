package event

import (
	"encoding"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// The canonical check of a body's raw bytes. A body type's canonical encoding is fixed by its
// struct: members in field order (the sorted order of their JSON names), omitempty members
// absent exactly when empty, every value in its one canonical form. readBody walks the raw
// bytes against that schema once, filling the body as it goes, and refuses at the first byte
// that the canonical encoding of what it has read so far would not have: no decode, re-encode
// and compare. What it accepts is exactly what the reference path (encoding/json decode, then
// re-encode and compare, in decode) accepts; FuzzDecode checks it.
//
// Canonical values (RFC 8785 on the subset of JSON that events use):
//
//	string   UTF-8, no U+2028 or U+2029 (Go's encoder escapes them, RFC 8785 does not: events
//	         hold neither); escapes only \" \\ \b \f \n \r \t, and \u00xx (lowercase hex) for
//	         the other control characters
//	integer  0 or -?[1-9][0-9]*, magnitude at most 2^53-1
//	boolean  true or false
//	bytes    a string of standard base64 with padding (null for nil)
//	UUID     a string of 36 lowercase characters
//	key id   a string of 16 lowercase hex digits
//	slice    [v,v,...], [] when empty, null when nil
//	struct   {"name":v,...}: members in schema order, no others

type kind uint8

const (
	kString kind = iota + 1
	kInt
	kBytes
	kUUID
	kKeyID
	kBool
	kStruct
	kSlice
)

type schema struct {
	kind   kind
	typ    reflect.Type
	fields []member // kStruct
	elem   *schema  // kSlice
}

type member struct {
	key       string // `"name":`
	index     int
	omitempty bool
	schema    *schema
}

var (
	uuidType     = reflect.TypeFor[uuid.UUID]()
	keyIDType    = reflect.TypeFor[KeyID]()
	stringsType  = reflect.TypeFor[[]string]()
	uuidsType    = reflect.TypeFor[[]uuid.UUID]()
	marshalerT   = reflect.TypeFor[json.Marshaler]()
	unmarshalerT = reflect.TypeFor[json.Unmarshaler]()
	textMarshalT = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshT = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// bodySchemas holds the schema of every body type, built once from the structs.
var bodySchemas = func() map[Type]*schema {
	m := make(map[Type]*schema, len(bodies))
	for t, newBody := range bodies {
		m[t] = schemaOf(reflect.TypeOf(newBody()).Elem())
	}
	return m
}()

// schemaOf describes a body type. It panics on a type that it cannot describe exactly (a
// programming error, found when the package loads): a custom marshaller, a map, a float, a
// pointer, an unsigned integer, a tag option other than omitempty, members out of order.
func schemaOf(t reflect.Type) *schema {
	switch t {
	case uuidType:
		return &schema{kind: kUUID, typ: t}
	case keyIDType:
		return &schema{kind: kKeyID, typ: t}
	}
	for _, i := range []reflect.Type{marshalerT, unmarshalerT, textMarshalT, textUnmarshT} {
		if t.Implements(i) || reflect.PointerTo(t).Implements(i) {
			panic("event: body type " + t.String() + " has its own encoding")
		}
	}
	switch t.Kind() {
	case reflect.String:
		return &schema{kind: kString, typ: t}
	case reflect.Int, reflect.Int64:
		return &schema{kind: kInt, typ: t}
	case reflect.Bool:
		return &schema{kind: kBool, typ: t}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return &schema{kind: kBytes, typ: t}
		}
		return &schema{kind: kSlice, typ: t, elem: schemaOf(t.Elem())}
	case reflect.Struct:
		s := &schema{kind: kStruct, typ: t}
		prev := ""
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name <= prev || (opts != "" && opts != "omitempty") ||
				strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
				panic("event: body field " + t.String() + "." + f.Name + " cannot be read canonically")
			}
			prev = name
			s.fields = append(s.fields, member{key: `"` + name + `":`, index: i,
				omitempty: opts == "omitempty", schema: schemaOf(f.Type)})
		}
		return s
	}
	panic("event: body type " + t.String() + " cannot be read canonically")
}

// readBody reads the canonical encoding of a body of type t; ok is false for anything else.
func readBody(t Type, b []byte) (Body, bool) {
	s, newBody := bodySchemas[t], bodies[t]
	if s == nil {
		return nil, false
	}
	body := newBody()
	r := reader{b: b}
	if !r.value(s, reflect.ValueOf(body).Elem()) || r.i != len(b) {
		return nil, false
	}
	return body, true
}

// reader walks canonical JSON; i is the offset of the next byte.
type reader struct {
	b []byte
	i int
}

func (r *reader) lit(s string) bool {
	if len(r.b)-r.i >= len(s) && string(r.b[r.i:r.i+len(s)]) == s {
		r.i += len(s)
		return true
	}
	return false
}

func (r *reader) byte(c byte) bool {
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

// value reads one value of schema s into v (a settable zero value).
func (r *reader) value(s *schema, v reflect.Value) bool {
	switch s.kind {
	case kString:
		str, ok := r.str()
		v.SetString(str)
		return ok
	case kInt:
		n, ok := r.integer()
		if !ok || v.OverflowInt(n) {
			return false
		}
		v.SetInt(n)
		return true
	case kBool:
		if r.lit("true") {
			v.SetBool(true)
			return true
		}
		return r.lit("false")
	case kUUID:
		raw, ok := r.plain()
		if !ok || len(raw) != 36 {
			return false
		}
		u, err := canonicalUUID(raw)
		v.Set(reflect.ValueOf(u))
		return err == nil
	case kKeyID:
		raw, ok := r.plain()
		if !ok {
			return false
		}
		id, err := ParseKeyID(string(raw))
		v.Set(reflect.ValueOf(id))
		return err == nil
	case kBytes:
		if r.lit("null") {
			return true
		}
		raw, ok := r.plain()
		if !ok {
			return false
		}
		out := make([]byte, base64.StdEncoding.DecodedLen(len(raw)))
		n, err := base64.StdEncoding.Decode(out, raw)
		if err != nil {
			return false
		}
		out = out[:n]
		if base64.StdEncoding.EncodedLen(n) != len(raw) || base64.StdEncoding.EncodeToString(out) != string(raw) {
			return false
		}
		v.SetBytes(out)
		return true
	case kSlice:
		return r.slice(s, v)
	case kStruct:
		if !r.byte('{') {
			return false
		}
		first := true
		for _, m := range s.fields {
			at := r.i
			if !first && !r.byte(',') || !r.lit(m.key) {
				r.i = at
				if m.omitempty {
					continue
				}
				return false
			}
			first = false
			f := v.Field(m.index)
			if !r.value(m.schema, f) || m.omitempty && empty(m.schema, f) {
				return false
			}
		}
		return r.byte('}')
	}
	return false
}

// empty reports whether omitempty leaves v out.
func empty(s *schema, v reflect.Value) bool {
	switch s.kind {
	case kString, kBytes, kSlice:
		return v.Len() == 0
	case kInt:
		return v.Int() == 0
	case kBool:
		return !v.Bool()
	}
	return false // arrays (UUID, key id) of non-zero length and structs are never left out
}

func (r *reader) slice(s *schema, v reflect.Value) bool {
	if r.lit("null") {
		return true // nil
	}
	if !r.byte('[') {
		return false
	}
	if r.byte(']') {
		v.Set(reflect.MakeSlice(s.typ, 0, 0))
		return true
	}
	// The common lists without reflection per element.
	switch s.typ {
	case stringsType:
		var out []string
		for {
			str, ok := r.str()
			if !ok {
				return false
			}
			out = append(out, str)
			if !r.byte(',') {
				break
			}
		}
		v.Set(reflect.ValueOf(out))
		return r.byte(']')
	case uuidsType:
		var out []uuid.UUID
		for {
			raw, ok := r.plain()
			if !ok || len(raw) != 36 {
				return false
			}
			u, err := canonicalUUID(raw)
			if err != nil {
				return false
			}
			out = append(out, u)
			if !r.byte(',') {
				break
			}
		}
		v.Set(reflect.ValueOf(out))
		return r.byte(']')
	}
	out := reflect.MakeSlice(s.typ, 0, 1)
	for {
		out = reflect.Append(out, reflect.Zero(s.elem.typ))
		if !r.value(s.elem, out.Index(out.Len()-1)) {
			return false
		}
		if !r.byte(',') {
			break
		}
	}
	v.Set(out)
	return r.byte(']')
}

// plain reads a string that holds no escapes and only printable ASCII (UUIDs, key ids, base64),
// returning its raw content. Anything else is not the canonical form of such a value.
func (r *reader) plain() ([]byte, bool) {
	if !r.byte('"') {
		return nil, false
	}
	start := r.i
	for ; r.i < len(r.b); r.i++ {
		switch c := r.b[r.i]; {
		case c == '"':
			r.i++
			return r.b[start : r.i-1], true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return nil, false
		}
	}
	return nil, false
}

// str reads a canonical string (see above) and returns its content.
func (r *reader) str() (string, bool) {
	if !r.byte('"') {
		return "", false
	}
	b := r.b
	var buf []byte // the content so far, once an escape is seen
	start := r.i
	for i := r.i; i < len(b); {
		c := b[i]
		switch {
		case c == '"':
			r.i = i + 1
			if buf == nil {
				return string(b[start:i]), true
			}
			return string(append(buf, b[start:i]...)), true
		case c == '\\':
			if i+1 >= len(b) {
				return "", false
			}
			buf = append(buf, b[start:i]...)
			n := 2
			switch b[i+1] {
			case '"', '\\':
				buf = append(buf, b[i+1])
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				// only \u00xx, lowercase, for a control character without a short escape
				if i+6 > len(b) || b[i+2] != '0' || b[i+3] != '0' {
					return "", false
				}
				hi, lo := unhex(b[i+4]), unhex(b[i+5])
				x := hi<<4 | lo
				if hi > 1 || lo > 15 || x == '\b' || x == '\f' || x == '\n' || x == '\r' || x == '\t' {
					return "", false
				}
				buf = append(buf, x)
				n = 6
			default:
				return "", false
			}
			i += n
			start = i
		case c < 0x20:
			return "", false
		case c < utf8.RuneSelf:
			i++
		default:
			ru, n := utf8.DecodeRune(b[i:])
			if ru == utf8.RuneError && n == 1 || ru == '\u2028' || ru == '\u2029' {
				return "", false
			}
			i += n
		}
	}
	return "", false
}

// unhex returns the value of a lowercase hex digit, or 0xff.
func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return 0xff
}

// integer reads a canonical integer of magnitude at most 2^53-1.
func (r *reader) integer() (int64, bool) {
	b, i := r.b, r.i
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	if i >= len(b) || b[i] < '0' || b[i] > '9' {
		return 0, false
	}
	var n int64
	if b[i] == '0' {
		if neg {
			return 0, false // -0
		}
		i++
	} else {
		for start := i; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			if i-start >= 16 {
				return 0, false
			}
			n = n*10 + int64(b[i]-'0')
		}
	}
	if n > maxSafe {
		return 0, false
	}
	if neg {
		n = -n
	}
	r.i = i
	return n, true
}
