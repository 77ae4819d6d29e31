package console

import (
	"archive/zip"
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/label"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
)

// job is a label batch being written in this process.
type job struct {
	ID      string
	Batch   int64
	Product string
	Lot     string
	Count   uint64
	Dir     string
	Started time.Time
	done    atomic.Uint64
	state   atomic.Value // string: running, done, failed
	Err     string
	Files   []string // relative paths, when done
	First   string   // the first label's URL
}

func (j *job) Done() uint64   { return j.done.Load() }
func (j *job) State() string  { s, _ := j.state.Load().(string); return s }
func (j *job) Percent() int   { return int(j.Done() * 100 / max(j.Count, 1)) }
func (j *job) Running() bool  { return j.State() == "running" }
func (j *job) HasPNG() bool   { return j.has("png/") }
func (j *job) PDFs() []string { return j.with("sheets/", ".pdf") }
func (j *job) CSV() bool      { return j.has(label.ManifestCSV) }

func (j *job) has(prefix string) bool { return len(j.with(prefix, "")) > 0 }

func (j *job) with(prefix, suffix string) []string {
	if j.State() != "done" {
		return nil
	}
	var out []string
	for _, f := range j.Files {
		if strings.HasPrefix(f, prefix) && strings.HasSuffix(f, suffix) {
			out = append(out, f)
		}
	}
	return out
}

func (c *Console) jobList() []*job {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*job, 0, len(c.order))
	for i := len(c.order) - 1; i >= 0; i-- {
		out = append(out, c.jobs[c.order[i]])
	}
	return out
}

// issueLabels records a batch (signed by the enterprise key) and writes its labels (tokens
// signed by the label key) in the background; the job's page shows the progress.
func (c *Console) issueLabels(ctx context.Context, me *identity, v func(string) string) flash {
	if c.cfg.LabelKey == nil {
		return failed(errNoLabelKey)
	}
	count, err := atoi(v("count"))
	if err != nil || count < 1 || count > 1<<24 {
		return failed(fault.Field(fault.Invalid, "quantity", "must be at least 1"))
	}
	var outputs label.Outputs
	for _, f := range []struct {
		name string
		o    label.Outputs
	}{{"csv", label.CSVManifest}, {"png", label.PNGFiles}, {"pdf", label.PDFSheets}} {
		if v("format_"+f.name) != "" {
			outputs |= f.o
		}
	}
	if outputs == 0 {
		outputs = label.CSVManifest
	}
	var rec verify.EnterpriseJSON
	if err := c.get(ctx, "/api/v1/enterprises/"+me.Owner.String(), false, &rec); err != nil {
		return failed(err)
	}
	var p *verify.Product
	for i := range rec.Products {
		if rec.Products[i].ID == v("product") {
			p = &rec.Products[i]
		}
	}
	if p == nil {
		return failed(fault.Field(fault.NotFound, "product", "no such product of this enterprise"))
	}
	certID, err := uuid.Parse(p.Certificate)
	if err != nil {
		return failed(fault.Field(fault.Conflict, "certificate", "the product's certification is not valid"))
	}
	prodID, _ := uuid.Parse(p.ID)
	labelKeyID := event.KeyIDOf(c.cfg.LabelKey.Public().(ed25519.PublicKey))
	b := &event.Batch{Certificate: certID, FirstSerial: 1, LabelKey: labelKeyID, Line: v("line"), Lot: v("lot"),
		Market: v("market"), Product: prodID, ProductionDate: v("production_date"), Quantity: int64(count)}
	if err := b.Validate(); err != nil {
		return failed(err)
	}
	origin, err := c.origin(ctx)
	if err != nil {
		return failed(err)
	}
	batchID := uuid.New()
	dir := filepath.Join(c.cfg.OutDir, "batch-"+batchID.String()[:8])
	if err := label.CheckDir(dir, outputs); err != nil {
		return failed(err)
	}
	// The codes carry the prefix the service advertises for labels, not the address this console
	// reaches it at (which may be internal or loopback); without one nothing is recorded.
	var info verify.ServiceInfo
	if err := c.get(ctx, "/api/v1/service", false, &info); err != nil {
		return failed(err)
	}
	if info.LabelPrefix == "" {
		return failed(fault.New(fault.Unavailable, "the service advertises no label URL prefix: ask the operator to set url_prefix"))
	}
	prefix := info.LabelPrefix
	rc, err := c.submit(ctx, me.Owner, batchID, b)
	if err != nil {
		return failed(err)
	}
	name := p.Name
	if i := strings.Index(name, " ("); i > 0 {
		name = name[:i]
	}
	j := &job{ID: batchID.String(), Batch: rc.Index, Product: name, Lot: b.Lot, Count: count, Dir: dir, Started: time.Now()}
	j.state.Store("running")
	c.mu.Lock()
	c.jobs[j.ID] = j
	c.order = append(c.order, j.ID)
	c.mu.Unlock()
	go func() {
		_, err := label.Issue(context.Background(), label.Batch{Key: c.cfg.LabelKey, Origin: origin, Batch: rc.Index, First: 1,
			Count: count, Prefix: prefix, Product: name, Lot: b.Lot, Schemes: p.Schemes},
			label.IssueOptions{Outputs: outputs, Dir: dir, Progress: func(done, _ uint64) { j.done.Store(done) }})
		if err != nil {
			j.Err = fmt.Sprintf("批次 %d 已记录，但标签文件写入失败：%v。请勿打印；请重印或作废该批次。 Batch %d is recorded but writing its labels failed: reprint or void it.", rc.Index, err, rc.Index)
			j.state.Store("failed")
			return
		}
		if tok, err := label.Sign(c.cfg.LabelKey, origin, rc.Index, 1); err == nil {
			j.First = tok.URL(prefix)
		}
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(dir, path)
				j.Files = append(j.Files, filepath.ToSlash(rel))
			}
			return nil
		})
		sort.Strings(j.Files)
		j.done.Store(count)
		j.state.Store("done")
	}()
	return ok("标签批次已记录 Label batch recorded", fmt.Sprintf("批次 batch %d · %s · 批号 lot %s · %d 枚 units", rc.Index, name, b.Lot, count))
}

// origin reads the log's origin: the first line of the server's checkpoint.
func (c *Console) origin(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.cfg.Server+"/checkpoint", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.cfg.Client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if resp.StatusCode != http.StatusOK || err != nil || strings.TrimSpace(line) == "" {
		return "", errors.New("malformed checkpoint from the server")
	}
	return strings.TrimSpace(line), nil
}

func (c *Console) job(r *http.Request) *job {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.jobs[r.PathValue("id")]
}

func (c *Console) jobPage(w http.ResponseWriter, r *http.Request) {
	j := c.job(r)
	if j == nil {
		c.fail(w, r, fault.New(fault.NotFound, "no such label batch in this console"))
		return
	}
	me, err := c.whoami(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, "job", me, j)
}

// jobFile serves one file of a batch's output directory.
func (c *Console) jobFile(w http.ResponseWriter, r *http.Request) {
	j := c.job(r)
	rel := r.PathValue("path")
	if j == nil || j.State() != "done" {
		http.NotFound(w, r)
		return
	}
	found := false
	for _, f := range j.Files {
		found = found || f == rel
	}
	if !found {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", filepath.Base(rel)))
	http.ServeFile(w, r, filepath.Join(j.Dir, filepath.FromSlash(rel)))
}

// jobPNGZip serves the batch's PNG files as one ZIP archive.
func (c *Console) jobPNGZip(w http.ResponseWriter, r *http.Request) {
	j := c.job(r)
	if j == nil || !j.HasPNG() {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=\"batch-%d-png.zip\"", j.Batch))
	z := zip.NewWriter(w)
	for _, f := range j.with("png/", ".png") {
		src, err := os.Open(filepath.Join(j.Dir, filepath.FromSlash(f)))
		if err != nil {
			return
		}
		dst, err := z.CreateHeader(&zip.FileHeader{Name: f, Method: zip.Store})
		if err == nil {
			_, err = io.Copy(dst, src)
		}
		src.Close()
		if err != nil {
			return
		}
	}
	z.Close()
}
