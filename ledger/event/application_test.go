package event

import (
	"bytes"
	"strings"
	"testing"
)

func sampleDetails() *ApplicationDetails {
	return &ApplicationDetails{Contact: Contact{Name: "张敏", Phone: "028-1234 5678", Email: "zm@example.cn"},
		Documents: []DocumentRef{{Name: "营业执照.pdf", SHA256: strings.Repeat("ab", 32)}}}
}

// TestDetailsEncoding pins the details' bytes (the content of the application attachment,
// whose commitment ledger/attach computes): a change of member names, order or escaping
// changes the known answer.
func TestDetailsEncoding(t *testing.T) {
	b, err := EncodeDetails(sampleDetails())
	if err != nil {
		t.Fatal(err)
	}
	const wantBytes = `{"contact":{"email":"zm@example.cn","name":"张敏","phone":"028-1234 5678"},"documents":[{"name":"营业执照.pdf","sha256":"abababababababababababababababababababababababababababababababab"}]}`
	if string(b) != wantBytes {
		t.Fatalf("details bytes\n got %s\nwant %s", b, wantBytes)
	}
	d, err := DecodeDetails(b)
	if err != nil || d.Contact.Name != "张敏" || len(d.Documents) != 1 {
		t.Fatalf("decode: %+v, %v", d, err)
	}
}

// TestApplicationAttachments: an application names exactly one details attachment, and only
// attachments of kinds application and document.
func TestApplicationAttachments(t *testing.T) {
	h := strings.Repeat("ab", 32)
	base := func(as ...Attachment) *Application {
		return &Application{Attachments: as, Certifier: prodID, Scheme: SchemeSantong, Scope: ScopeEnterprise}
	}
	if err := base(Attachment{Kind: AttachApplication, SHA256: h}, Attachment{Kind: AttachDocument, SHA256: strings.Repeat("cd", 32)}).Validate(); err != nil {
		t.Fatalf("details and a document: %v", err)
	}
	for name, a := range map[string]*Application{
		"none":          base(),
		"two details":   base(Attachment{Kind: AttachApplication, SHA256: h}, Attachment{Kind: AttachApplication, SHA256: strings.Repeat("cd", 32)}),
		"a finding":     base(Attachment{Kind: AttachApplication, SHA256: h}, Attachment{Kind: AttachFinding, SHA256: strings.Repeat("cd", 32)}),
		"only document": base(Attachment{Kind: AttachDocument, SHA256: h}),
	} {
		if err := a.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestDecodeDetailsRefuses: unknown members, trailing data, a missing or short salt, a bad
// document hash, a missing contact, too many bytes.
func TestDecodeDetailsRefuses(t *testing.T) {
	good, _ := EncodeDetails(sampleDetails())
	cases := map[string][]byte{
		"unknown member": bytes.Replace(good, []byte(`"documents"`), []byte(`"x":1,"documents"`), 1),
		"trailing data":  append(append([]byte{}, good...), []byte(` {}`)...),
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
	f.Add([]byte(`{"contact":{"name":"a","phone":"1"},"documents":null}`))
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
