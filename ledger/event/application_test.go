package event

import (
	"bytes"
	"strings"
	"testing"
)

func sampleDetails() *ApplicationDetails {
	return &ApplicationDetails{Contact: Contact{Name: "张敏", Phone: "028-1234 5678", Email: "zm@example.cn"},
		Documents: []DocumentRef{{Name: "营业执照.pdf", SHA256: strings.Repeat("ab", 32)}},
		Salt:      strings.Repeat("01", 32)}
}

// TestDetailsCommitment pins the details' encoding and commitment: a change of member names,
// order, escaping or the domain line changes the known answer.
func TestDetailsCommitment(t *testing.T) {
	b, err := EncodeDetails(sampleDetails())
	if err != nil {
		t.Fatal(err)
	}
	const wantBytes = `{"contact":{"email":"zm@example.cn","name":"张敏","phone":"028-1234 5678"},"documents":[{"name":"营业执照.pdf","sha256":"abababababababababababababababababababababababababababababababab"}],"salt":"0101010101010101010101010101010101010101010101010101010101010101"}`
	if string(b) != wantBytes {
		t.Fatalf("details bytes\n got %s\nwant %s", b, wantBytes)
	}
	const wantCommit = "ea0db825d26cc291c44a7e8adabccf295101a676ac173f37a73c69450be20b18"
	if got := DetailsCommitment(b); got != wantCommit {
		t.Errorf("commitment %s, want %s", got, wantCommit)
	}
	d, err := DecodeDetails(b)
	if err != nil || d.Contact.Name != "张敏" || len(d.Documents) != 1 {
		t.Fatalf("decode: %+v, %v", d, err)
	}
}

// TestDecodeDetailsRefuses: unknown members, trailing data, a missing or short salt, a bad
// document hash, a missing contact, too many bytes.
func TestDecodeDetailsRefuses(t *testing.T) {
	good, _ := EncodeDetails(sampleDetails())
	cases := map[string][]byte{
		"unknown member": bytes.Replace(good, []byte(`"salt"`), []byte(`"x":1,"salt"`), 1),
		"trailing data":  append(append([]byte{}, good...), []byte(` {}`)...),
		"short salt":     bytes.Replace(good, []byte(strings.Repeat("01", 32)), []byte("0101"), 1),
		"bad hash":       bytes.Replace(good, []byte(strings.Repeat("ab", 32)), []byte(strings.Repeat("AB", 32)), 1),
		"no contact":     bytes.Replace(good, []byte(`"name":"张敏",`), nil, 1),
		"too large":      append(bytes.Repeat([]byte(" "), MaxDetails), good...),
		"not json":       []byte("contact: 张敏"),
		"empty":          nil,
	}
	for name, b := range cases {
		if _, err := DecodeDetails(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzDecodeDetails: the service parses details from requests; nothing panics, and what is
// accepted encodes back to a document that decodes alike.
func FuzzDecodeDetails(f *testing.F) {
	good, _ := EncodeDetails(sampleDetails())
	f.Add(good)
	f.Add([]byte(`{"contact":{"name":"a","phone":"1"},"documents":null,"salt":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeDetails(b)
		if err != nil {
			return
		}
		again, err := EncodeDetails(d)
		if err != nil {
			t.Fatalf("accepted details do not encode: %v", err)
		}
		if _, err := DecodeDetails(again); err != nil {
			t.Fatalf("re-encoded details refused: %v", err)
		}
	})
}
