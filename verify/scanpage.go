package verify

import (
	"bytes"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	ginjson "github.com/gin-gonic/gin/codec/json"
)

// The scan page from precomputed parts (issue 18 item 4). What a scan page shows is the same
// for every scan of a batch but for a few values: the unit's counts and first scan, its
// serial, the time of the check and the language switch's links. The template runs once per
// page shape (the verdict, the look-ups it rests on, the language, which of the counts' lines
// show): with sentinel values in those places, and the output is cut at the sentinels. A scan
// then writes the parts with its own values between them, escaped as the template would have
// escaped them (TestScanPageParts compares the two byte for byte).
//
// A page with a report form (its signed fields are the scan's own) or a void, and any page in
// which a sentinel is not found where expected, is rendered by the template as before.

// pageHole is what goes between two parts of a page.
type pageHole uint8

const (
	holeZHURL pageHole = iota
	holeENURL
	holeCount
	holeRegions
	holeFirst
	holeSerial
	holeChecked
	holeCounted // JSON only
	holeClients
	numHoles
)

// The sentinels: values no real page holds, each printed in one way only.
var (
	sentinelZHURL   = "https://sentinel.invalid/zh"
	sentinelENURL   = "https://sentinel.invalid/en"
	sentinelCount   = int64(987650000000000001)
	sentinelRegions = 987650000000000002
	sentinelSerial  = uint64(987650000000000003)
	sentinelFirst   = time.Date(2987, 6, 5, 4, 3, 0, 0, time.UTC)
	sentinelChecked = time.Date(2988, 7, 6, 5, 4, 0, 0, time.UTC)
	sentinelCounted = int64(987650000000000004)
	sentinelClients = int64(987650000000000005)
)

// sentinelText is each hole's sentinel as the template prints it.
var sentinelText = func() [numHoles]string {
	dt := funcs["datetime"].(func(time.Time) string)
	return [numHoles]string{
		holeZHURL:   sentinelZHURL,
		holeENURL:   sentinelENURL,
		holeCount:   strconv.FormatInt(sentinelCount, 10),
		holeRegions: strconv.Itoa(sentinelRegions),
		holeFirst:   escapedText(dt(sentinelFirst)),
		holeSerial:  strconv.FormatUint(sentinelSerial, 10),
		holeChecked: escapedText(dt(sentinelChecked)),
	}
}()

// sentinelJSON is each hole's sentinel as the JSON answer holds it.
var sentinelJSON = func() [numHoles]string {
	tj := func(t time.Time) string { b, _ := t.MarshalJSON(); return string(b) }
	return [numHoles]string{
		holeCount:   strconv.FormatInt(sentinelCount, 10),
		holeRegions: strconv.Itoa(sentinelRegions),
		holeFirst:   tj(sentinelFirst),
		holeSerial:  strconv.FormatUint(sentinelSerial, 10),
		holeChecked: tj(sentinelChecked),
		holeCounted: strconv.FormatInt(sentinelCounted, 10),
		holeClients: strconv.FormatInt(sentinelClients, 10),
	}
}()

// scanPageKey is a page's shape: everything the template reads but the holes' values.
type scanPageKey struct {
	lang, code string
	// the look-ups by value (the registry answers a new value at each look-up); the lists,
	// which a key cannot hold, joined
	batch                     Batch
	product                   productKey
	enterprise                enterpriseKey
	hasBatch, hasProd, hasEnt bool
	image                     *ImageInfo
	unit                      Unit // its serial zeroed
	void                      Void
	hasVoid                   bool
	cert                      CertificateView
	hasCert                   bool
	advice, title             Text
	msgs                      [4]Text
	details                   [2]Text
	nmsgs, ndetails           int
	recordURL                 string
	token                     bool
	scans, recorded           bool
	notRecorded               string
	unchecked                 bool
	firstScan, regions        bool // the count is 1; some regions
	firstZero                 bool
	counted, clients          bool // JSON: non-zero
}

// productKey and enterpriseKey are Product and Enterprise as map keys: every field, in order,
// the lists joined (TestScanPageKeyFields checks that none is missing).
type productKey struct {
	ID, Enterprise, Name, NameEN, GTIN, Category, Certificate, Status, Schemes, Image string
}

type enterpriseKey struct {
	ID, Name, NameEN, CreditCode, Address, Phone, Email, Website, Region, Status, Certificates, Chain string
}

// pageParts is a page cut at its holes: parts[i], hole i's value, parts[i+1], ...
type pageParts struct {
	parts []string
	holes []pageHole
}

// scanPages keeps the parts of the page shapes seen; past max shapes it starts again (a
// record that changes a look-up makes new shapes; the old ones are no longer asked for).
type scanPages struct {
	mu  sync.Mutex
	m   map[scanPageKey]*pageParts
	max int
}

func newScanPages() *scanPages { return &scanPages{m: map[scanPageKey]*pageParts{}, max: 4096} }

// get returns the parts of shape k, cut by cut when not kept (nil: not to be made from parts).
func (sp *scanPages) get(k scanPageKey, cut func() *pageParts) *pageParts {
	sp.mu.Lock()
	pp, hit := sp.m[k]
	sp.mu.Unlock()
	if hit {
		return pp
	}
	pp = cut()
	sp.mu.Lock()
	if len(sp.m) >= sp.max {
		clear(sp.m)
	}
	sp.m[k] = pp
	sp.mu.Unlock()
	return pp
}

// keyOf is the shape of the page p of v; false when the page is not to be made from parts.
func keyOf(p *page, v *Verdict) (scanPageKey, bool) {
	if v.Report != nil || v.Void != nil {
		return scanPageKey{}, false
	}
	return shapeOf(v, p.Lang, p.Image)
}

// shapeOf is the shape of v's answer in lang (and image) as a key; false when v has more
// messages or details than a key holds, or no scans.
func shapeOf(v *Verdict, lang string, image *ImageInfo) (scanPageKey, bool) {
	if len(v.Messages) > 4 || len(v.Details) > 2 || v.Scans == nil {
		return scanPageKey{}, false
	}
	k := scanPageKey{lang: lang, code: v.Verdict, image: image, advice: v.Advice, title: v.Title, nmsgs: len(v.Messages), ndetails: len(v.Details),
		recordURL: v.RecordURL, token: v.Token != nil, scans: true, recorded: v.Scans.Recorded,
		notRecorded: v.Scans.NotRecorded, unchecked: v.Scans.HistoryUnchecked, firstScan: v.Scans.Count == 1,
		regions: v.Scans.Regions != 0, firstZero: v.Scans.First.IsZero(), counted: v.Scans.Counted != 0, clients: v.Scans.Clients != 0}
	if v.Certificate != nil {
		k.cert, k.hasCert = *v.Certificate, true
	}
	if v.Batch != nil {
		k.batch, k.hasBatch = *v.Batch, true
	}
	if p := v.Product; p != nil {
		k.product, k.hasProd = productKey{p.ID, p.Enterprise, p.Name, p.NameEN, p.GTIN, p.Category, p.Certificate,
			p.Status, strings.Join(p.Schemes, "\x00"), p.Image}, true
	}
	if e := v.Enterprise; e != nil {
		k.enterprise, k.hasEnt = enterpriseKey{e.ID, e.Name, e.NameEN, e.CreditCode, e.Address, e.Phone, e.Email,
			e.Website, e.Region, e.Status, strings.Join(e.Certificates, "\x00"), e.Chain}, true
	}
	if v.Token != nil {
		k.unit = *v.Token
		k.unit.Serial = 0
	}
	if v.Void != nil {
		k.void, k.hasVoid = *v.Void, true
	}
	copy(k.msgs[:], v.Messages)
	copy(k.details[:], v.Details)
	return k, true
}

// scanPage answers with the scan page of v from its parts; false when it must be rendered by
// the template (nothing is written then).
func (s *Server) scanPageFromParts(c *gin.Context, v *Verdict) bool {
	p := s.newPage(c, v)
	k, ok := keyOf(p, v)
	if !ok {
		return false
	}
	pp := s.pages.get(k, func() *pageParts { return s.cutPage(p, v) })
	if pp == nil {
		return false
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	dt := funcs["datetime"].(func(time.Time) string)
	var num [24]byte
	for i, part := range pp.parts {
		buf.WriteString(part)
		if i == len(pp.holes) {
			break
		}
		switch pp.holes[i] {
		case holeZHURL:
			writeHref(buf, p.ZHURL)
		case holeENURL:
			writeHref(buf, p.ENURL)
		case holeCount:
			buf.Write(strconv.AppendInt(num[:0], v.Scans.Count, 10))
		case holeRegions:
			buf.Write(strconv.AppendInt(num[:0], int64(v.Scans.Regions), 10))
		case holeFirst:
			writeText(buf, dt(v.Scans.First))
		case holeSerial:
			buf.Write(strconv.AppendUint(num[:0], v.Token.Serial, 10))
		case holeChecked:
			writeText(buf, dt(v.CheckedAt))
		}
	}
	c.Writer.Header()["Content-Security-Policy"] = hdrScanPageCSP
	setLang(c, p.Lang, p.chosen, strings.HasPrefix(s.cfg.Origin, "https://"))
	writeAnswer(c, hdrHTML, buf.Bytes())
	return true
}

// withSentinels returns a copy of v (its scan counts and token copied too) with the sentinels in
// the holes that the page and the JSON body share: regions, first scan, serial and check time.
// The count fields are the caller's: the two shapes differ there.
func withSentinels(v *Verdict) *Verdict {
	sv := *v
	scans := *v.Scans
	sv.Scans = &scans
	if scans.Regions != 0 {
		scans.Regions = sentinelRegions
	}
	if !scans.First.IsZero() {
		scans.First = sentinelFirst
	}
	if v.Token != nil {
		u := *v.Token
		u.Serial = sentinelSerial
		sv.Token = &u
	}
	sv.CheckedAt = sentinelChecked
	return &sv
}

// cutPage renders the page of v's shape with the sentinels in its holes and cuts it there; nil
// when the template failed or a sentinel shows where the parts cannot account for it.
func (s *Server) cutPage(p *page, v *Verdict) *pageParts {
	sv := withSentinels(v)
	if sv.Scans.Count != 1 { // the page says "first scan" for a count of 1: part of the shape
		sv.Scans.Count = sentinelCount
	}
	sp := *p
	sp.Data, sp.ZHURL, sp.ENURL = sv, sentinelZHURL, sentinelENURL
	var b strings.Builder
	if err := templates[sp.Lang].ExecuteTemplate(&b, "scan", &sp); err != nil {
		return nil
	}
	return cut(b.String(), &sentinelText)
}

// cut cuts out at the sentinels; nil when one shows in a form the parts cannot account for.
func cut(out string, sentinels *[numHoles]string) *pageParts {
	type at struct {
		pos int
		h   pageHole
	}
	var found []at
	for h, t := range sentinels {
		if t == "" {
			continue
		}
		for i := 0; ; {
			j := strings.Index(out[i:], t)
			if j < 0 {
				break
			}
			found = append(found, at{i + j, pageHole(h)})
			i += j + len(t)
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].pos < found[j].pos })
	pp := &pageParts{}
	last := 0
	for _, f := range found {
		if f.pos < last {
			return nil // overlapping sentinels
		}
		pp.parts = append(pp.parts, out[last:f.pos])
		pp.holes = append(pp.holes, f.h)
		last = f.pos + len(sentinels[f.h])
	}
	pp.parts = append(pp.parts, out[last:])
	for _, part := range pp.parts { // a sentinel printed another way (a date alone, a part of it)
		if strings.Contains(part, "98765000") || strings.Contains(part, "2987-") || strings.Contains(part, "2988-") ||
			strings.Contains(part, "sentinel.invalid") {
			return nil
		}
	}
	return pp
}

// scanJSONFromParts answers with v as JSON from its parts (as c.JSON would); false when it
// must be encoded whole (nothing is written then).
func (s *Server) scanJSONFromParts(c *gin.Context, v *Verdict) bool {
	k, ok := shapeOf(v, "json", nil)
	if !ok {
		return false
	}
	pp := s.pages.get(k, func() *pageParts { return cutJSON(v) })
	if pp == nil {
		return false
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	var num [40]byte
	for i, part := range pp.parts {
		buf.WriteString(part)
		if i == len(pp.holes) {
			break
		}
		switch pp.holes[i] {
		case holeCount:
			buf.Write(strconv.AppendInt(num[:0], v.Scans.Count, 10))
		case holeCounted:
			buf.Write(strconv.AppendInt(num[:0], v.Scans.Counted, 10))
		case holeClients:
			buf.Write(strconv.AppendInt(num[:0], v.Scans.Clients, 10))
		case holeRegions:
			buf.Write(strconv.AppendInt(num[:0], int64(v.Scans.Regions), 10))
		case holeFirst:
			writeTimeJSON(buf, num[:0], v.Scans.First)
		case holeSerial:
			buf.Write(strconv.AppendUint(num[:0], v.Token.Serial, 10))
		case holeChecked:
			writeTimeJSON(buf, num[:0], v.CheckedAt)
		}
	}
	writeAnswer(c, hdrJSON, buf.Bytes())
	return true
}

// writeAnswer answers 200 with body, of content type ctype (one of the hdr values), as c.Data
// does but for its allocations; with a Content-Length when the body is longer than what
// net/http holds back to find it (2048 bytes), so that the page is not sent chunked.
func writeAnswer(c *gin.Context, ctype []string, body []byte) {
	h := c.Writer.Header()
	h["Content-Type"] = ctype
	if len(body) > 2048 {
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	c.Status(http.StatusOK)
	if _, err := c.Writer.Write(body); err != nil {
		_ = c.Error(err)
		c.Abort()
	}
}

// writeTimeJSON writes t in UTC as encoding/json does (the service's times are UTC: lookup_utc.go).
func writeTimeJSON(buf *bytes.Buffer, b []byte, t time.Time) {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		j, _ := t.UTC().MarshalJSON()
		buf.Write(j)
		return
	}
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	buf.Write(append(b, '"'))
}

// cutJSON encodes v's shape with the sentinels in its holes, with the service's JSON codec,
// and cuts it there.
func cutJSON(v *Verdict) *pageParts {
	sv := withSentinels(v)
	scans := sv.Scans
	if scans.Count != 0 {
		scans.Count = sentinelCount
	}
	if scans.Counted != 0 {
		scans.Counted = sentinelCounted
	}
	if scans.Clients != 0 {
		scans.Clients = sentinelClients
	}
	b, err := ginjson.API.Marshal(sv)
	if err != nil {
		return nil
	}
	return cut(string(b), &sentinelJSON)
}

// The holes' values are escaped by html/template itself, in the context of the pages' holes:
// text (html/template escapes more than HTMLEscapeString: "+" too) and an href="..." attribute.
var (
	textTemplate = template.Must(template.New("text").Parse(`<p>{{.}}</p>`))
	hrefTemplate = template.Must(template.New("href").Parse(`<a href="{{.}}">`))
)

func escapedText(s string) string {
	var b bytes.Buffer
	writeEscaped(&b, textTemplate, s)
	return b.String()
}

// writeText writes s escaped as html/template escapes text: of what a time prints, only "+"
// (as "&#43;"); anything else it escapes goes through the template.
func writeText(buf *bytes.Buffer, s string) {
	if strings.ContainsAny(s, "\x00\"&'<>") {
		writeEscaped(buf, textTemplate, s)
		return
	}
	writeEntities(buf, s, "+")
}

// writeHref writes s as html/template writes it at the start of an href="..." attribute (its
// URL filter and normalisation, then the attribute's escaping) without running the template,
// for the URLs the language links are (an http(s) origin or none, a path, a query, all of
// letters, digits and URL punctuation): of those, only & and + are escaped. Anything else goes
// through the template (TestWriteHref compares the two).
func writeHref(buf *bytes.Buffer, s string) {
	if !plainURL(s) {
		writeEscaped(buf, hrefTemplate, s)
		return
	}
	writeEntities(buf, s, "&+")
}

// writeEntities writes s with each of the bytes in set ('&' or '+') as its HTML entity.
func writeEntities(buf *bytes.Buffer, s, set string) {
	for {
		i := strings.IndexAny(s, set)
		if i < 0 {
			buf.WriteString(s)
			return
		}
		buf.WriteString(s[:i])
		if s[i] == '&' {
			buf.WriteString("&amp;")
		} else {
			buf.WriteString("&#43;")
		}
		s = s[i+1:]
	}
}

// plainURL reports whether html/template's URL filter passes s and its normaliser leaves it
// as it is: an http or https URL or a path, each byte unreserved or reserved in RFC 3986 but
// for ' ( ) (which the normaliser encodes), or a valid percent escape.
func plainURL(s string) bool {
	if !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "/") {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~!#$&*+,/:;=?@[]", c) >= 0:
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
		default:
			return false
		}
	}
	return true
}

// writeEscaped writes s escaped as t escapes it between its fixed prefix and suffix.
func writeEscaped(buf *bytes.Buffer, t *template.Template, s string) {
	pre, suf := len(`<p>`), len(`</p>`)
	if t == hrefTemplate {
		pre, suf = len(`<a href="`), len(`">`)
	}
	n := buf.Len()
	if t.Execute(buf, s) != nil {
		buf.Truncate(n)
		return
	}
	b := buf.Bytes()[n:]
	v := b[pre : len(b)-suf]
	copy(buf.Bytes()[n:], v)
	buf.Truncate(n + len(v))
}
