package verify

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santong-cn/santong/ledger/attach"
)

// browserExtras are what TestPagesInBrowser adds for consumers' reports and product images:
// the service takes reports (a durable queue in a temporary directory) and keeps images, and a
// product of the world's first enterprise has an uploaded picture.
type browserExtras struct {
	w      *world
	images *Images
	pic    []byte
	prod   string
	batch  int64
	reps   *Reports
	files  *attach.Store
}

func newBrowserExtras(t *testing.T, w *world) *browserExtras {
	t.Helper()
	dir := t.TempDir()
	ex := &browserExtras{w: w, pic: pngBytes(t, testPicture(480, 360))}
	var err error
	if ex.images, err = OpenImages(filepath.Join(dir, "images")); err != nil {
		t.Fatal(err)
	}
	if ex.files, err = attach.OpenStore(filepath.Join(dir, "attachments")); err != nil {
		t.Fatal(err)
	}
	if ex.reps, err = OpenReports(ReportOptions{Dir: filepath.Join(dir, "reports"), Key: w.root}); err != nil {
		t.Fatal(err)
	}
	return ex
}

// server is the world's service with reports and images.
func (ex *browserExtras) server(cfg Config) *Server {
	if cfg.RateLimit == 0 {
		cfg.RateLimit = -1
	}
	d := ex.w.adapter.Deps()
	d.Scans = ex.w.scans
	d.Images = ex.images
	d.Attachments = &CertAttachments{Registry: ex.w.reg, Files: ex.files}
	d.Reports = ex.reps
	return New(cfg, d)
}

// pages registers and uploads the product with a picture, files a report through the forged
// page's form, and lists the pages to try: the product's page and genuine verdict with the
// picture, the report form and its "received" page.
func (ex *browserExtras) pages(t *testing.T, base string, h http.Handler) []pageInBrowser {
	t.Helper()
	prod, batch := addImageProduct(ex.w, ex.pic)
	if _, err := ex.images.Put(ex.pic, sha256Hex(ex.pic)); err != nil {
		t.Fatal(err)
	}
	forged := getPage(t, h, "/q/"+otherKeyToken(ex.w.batch1, 7), "198.51.100.7:1", "zh-CN")
	form := formOf(t, forged.body)
	form.Set("what", "counterfeit")
	form.Set("details", "包装印刷模糊，防伪码刮开后是一串乱码")
	form.Set("shop", "某某超市人民路店")
	form.Set("city", "成都")
	req, _ := http.NewRequest("POST", "/report", strings.NewReader(form.Encode()))
	req.RemoteAddr = "198.51.100.7:1"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", browserAccept)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/report/R") {
		t.Fatalf("report: %d %q %s", rec.Code, loc, rec.Body)
	}
	tok := ex.w.token(ex.w.labelK, batch, 1)
	return []pageInBrowser{
		{"verdict-genuine-image", base + "/q/" + tok, VerdictGenuine, 200},
		{"product-image", base + "/registry/products/" + prod.String(), "", 200},
		{"report-form", base + "/report?product=" + url.QueryEscape(ex.w.prod.String()), "", 200},
		{"report-received", base + loc, "", 200},
	}
}
