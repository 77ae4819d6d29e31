// Package label makes and checks the signed QR labels that producers print beside the 三同 mark:
// the token format (sign, parse, verify), QR codes as PNG and SVG, labels (SVG and PNG) and A4
// sheets (SVG and PDF) with a mark drawn from strokes, and the streaming issuance of a whole batch with CSV and
// JSON manifests. It knows nothing of HTTP and does not import the ledger: the caller appends the
// label-batch event and checks tokens against it.
//
// # Token format, version 1
//
// A token ties one unit to its label-batch event. Its body is 80 bytes:
//
//	batch  int64, big-endian, >= 0   ledger index of the label-batch event
//	serial uint64, big-endian        the unit's serial in the batch
//	sig    64 bytes                  Ed25519 signature by the batch's label key
//
// The signature covers
//
//	"santong label token v1" 0x00 || origin || 0x00 || batch (8 bytes BE) || serial (8 bytes BE)
//
// where origin is the log's checkpoint origin (1-255 bytes, no NUL or newline), so a token from
// one deployment never verifies on another. There is no key id: the batch event names the label
// key, and a verifier has to read that event anyway to check the serial range and the
// certification.
//
// The text form is the version character "1" followed by the body as one 640-bit big-endian
// number in exactly 124 Base36 digits 0-9A-Z (leading zeros kept): 125 characters, all in QR
// alphanumeric mode and all unreserved in a URL path. A URL is a configured uppercase prefix
// followed by the token, for example
//
//	HTTPS://V.SANTONG.CN/Q/1000000000046WOWPWF07TZAV...
//
// With a prefix of P characters the URL is P+125 characters; it fits QR version 6 at error
// correction M (41x41 modules) for P <= 29. Parsing is strict: one canonical text per token, and
// distinct errors for a short token, trailing characters, a character outside 0-9A-Z, an unknown
// version and a value out of range. docs/token.md has the byte-by-byte format, the choice of
// alphabet, the QR version table and the GS1 Digital Link form (see SignDigitalLink; Issue
// writes a batch as Digital Links when Batch.DigitalLink is set).
package label
