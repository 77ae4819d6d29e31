package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/attach"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/keyfile"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// cmdDemo loads the demo dataset into a data directory that holds only its first record.
func cmdDemo(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("demo")
	data := fs.String("data", "", "the data directory, initialised and otherwise empty (default $SANTONG_DATA or ./"+defaultData+")")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	addStoreFlag(fs, c) // store.go
	if err := parse(fs, args, false); err != nil {
		return err
	}
	dir := dataDir(c, *data)
	reg, cfg, err := c.openRegistry(dir)
	if err != nil {
		return err
	}
	defer reg.Close()
	res, err := loadDemo(ctx, c, reg, cfg, dir, baseOfPrefix(cfg.URLPrefix))
	if err != nil {
		return err
	}
	if *jsonOut {
		return c.printJSON(res)
	}
	res.print(c.stdout)
	return nil
}

// baseOfPrefix turns a label URL prefix ("HTTP://127.0.0.1:8080/Q/") into the service's base URL
// for links ("http://127.0.0.1:8080"): scheme and host in lower case, the last path segment cut.
func baseOfPrefix(prefix string) string {
	u, err := url.Parse(prefix)
	if err != nil || u.Host == "" {
		return strings.TrimSuffix(prefix, "/")
	}
	p := strings.TrimSuffix(u.Path, "/")
	if i := strings.LastIndex(p, "/"); i >= 0 {
		p = p[:i]
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + p
}

// demo builds the dataset: it holds the keys and what was created, by slug.
type demo struct {
	ctx     context.Context
	reg     *cert.Registry
	cfg     *config
	dir     string
	now     time.Time
	op      ed25519.PrivateKey
	pass    []byte
	records int
	// attachErr is the first failure to keep an attachment (see attach).
	attachErr error

	certifiers map[string]*demoActor
	regulator  *demoActor // a market regulator (市场监管): reads confidential attachments
	refused    []string   // what the demo tried that the rules refused, with the reason
	ents       map[string]*demoActor
	products   map[string][]uuid.UUID // by enterprise slug, in demoEnterprises order
	certs      map[string]uuid.UUID   // the product certificate its batches rest on, by enterprise slug
	batches    map[string]demoBatch   // label batch, by enterprise slug
	expired    expiredCert
}

// demoActor is a certifier or an enterprise: its id and keys.
type demoActor struct {
	id       uuid.UUID
	key      ed25519.PrivateKey // certifier or enterprise key
	labelKey ed25519.PrivateKey // enterprises only
	name     string
}

// demoBatch is a label batch of the demo.
type demoBatch struct {
	id      uuid.UUID
	index   int64
	product string // printed name
	lot     string
	schemes []string // the schemes that cover its product: the marks its labels carry
}

type expiredCert struct {
	number, until string
	ent           string
}

// day returns the date d days from now, in China Standard Time.
func (d *demo) day(days int) string {
	return d.now.In(event.CST).AddDate(0, 0, days).Format(event.DateFormat)
}

// submit signs ev with key and appends it.
func (d *demo) submit(ev *event.Event, key ed25519.PrivateKey) (ledger.Receipt, error) {
	if d.attachErr != nil {
		return ledger.Receipt{}, d.attachErr
	}
	b, err := ev.Sign(key)
	if err != nil {
		return ledger.Receipt{}, fmt.Errorf("sign %s: %w", ev.Type, err)
	}
	rc, err := d.reg.Submit(d.ctx, b)
	if err != nil {
		return rc, fmt.Errorf("record %s (%s): %w", ev.Type, ev.Subject, err)
	}
	d.records++
	return rc, nil
}

// attach keeps a confidential attachment of texts in the data directory's store and returns
// what the event records of it (nil for no texts). A failure to keep it is returned by the next
// submit, so that no event names an attachment that was not kept.
func (d *demo) attach(kind string, texts ...string) []event.Attachment {
	if len(texts) == 0 {
		return nil
	}
	a, err := attach.NewTexts(kind, texts)
	if err == nil {
		var st *attach.Store
		if st, err = attach.OpenStore(filepath.Join(d.dir, attachmentsDir)); err == nil {
			_, err = st.Put(a)
		}
	}
	if err != nil {
		d.attachErr = fmt.Errorf("keep a confidential attachment: %w", err)
		return nil
	}
	return []event.Attachment{a.Ref()}
}

// docHash stands for the SHA-256 of a document (a report, a declaration) that the demo does not ship.
func docHash(name string) string {
	h := sha256.Sum256([]byte("santong demo document: " + name))
	return hex.EncodeToString(h[:])
}

// loadDemo loads the demo dataset into reg (whose log holds only its first record) and writes
// sample labels under dir. baseURL is where the service will answer.
func loadDemo(ctx context.Context, c *cli, reg *cert.Registry, cfg *config, dir, baseURL string) (*demoResult, error) {
	if n := reg.Log().Size(); n != 1 {
		return nil, withHint(fmt.Errorf("%s already holds %d records: the demo loads only into a data directory that holds just its first record", dir, n),
			"create a fresh one: santong init --data NEWDIR && santong demo --data NEWDIR")
	}
	if _, err := os.Stat(filepath.Join(dir, "demo-keys")); err == nil {
		return nil, withHint(fmt.Errorf("%s already exists", filepath.Join(dir, "demo-keys")), "remove it, or load the demo into a fresh data directory")
	}
	pass, err := c.passphrase("passphrase for " + dir + ": ")
	if err != nil {
		return nil, err
	}
	op, err := keyfile.Read(filepath.Join(dir, "keys", "operator.key"), pass)
	if err != nil {
		return nil, fmt.Errorf("open the operator key: %w", err)
	}
	if cfg.OperatorKey != event.KeyIDOf(op.Public().(ed25519.PublicKey)).String() {
		return nil, errors.New("keys/operator.key is not the operator key named in santong.json")
	}
	d := &demo{ctx: ctx, reg: reg, cfg: cfg, dir: dir, now: time.Now(), op: op, pass: pass,
		certifiers: map[string]*demoActor{}, ents: map[string]*demoActor{}, products: map[string][]uuid.UUID{},
		certs: map[string]uuid.UUID{}, batches: map[string]demoBatch{}}
	keyFiles, err := d.generateKeys()
	if err != nil {
		return nil, err
	}
	for _, step := range []func() error{d.enrol, d.register, d.certify, d.issue, d.draw, d.supervise} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	if _, err := reg.Log().SignCheckpoint(ctx); err != nil {
		return nil, fmt.Errorf("sign a checkpoint: %w", err)
	}
	if err := keyFiles.Wait(); err != nil {
		return nil, err
	}
	res := d.result(baseURL)
	if err := d.writeSamples(res, baseURL); err != nil {
		return nil, err
	}
	if err := writeSampleIndex(res); err != nil {
		return nil, err
	}
	return res, nil
}

// errGroup is a tiny sync.WaitGroup with the first error.
type errGroup struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	err  error
	sema chan struct{}
}

func (g *errGroup) Go(f func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.sema <- struct{}{}
		defer func() { <-g.sema }()
		if err := f(); err != nil {
			g.mu.Lock()
			if g.err == nil {
				g.err = err
			}
			g.mu.Unlock()
		}
	}()
}

func (g *errGroup) Wait() error { g.wg.Wait(); return g.err }

// demoKDF encrypts the demo's fourteen keys: OWASP's minimum for Argon2id (19 MiB, 2 passes,
// 1 lane) rather than the data directory's RFC 9106 parameters, so that 'serve --demo' starts in
// a second or two. The keys sign fictitious data only; keys made with 'santong key new' get the
// full parameters.
var demoKDF = keyfile.Params{Time: 2, MemoryKiB: 19 << 10, Threads: 1}

// generateKeys makes every demo key and starts writing them, encrypted with the data
// directory's passphrase, under DIR/demo-keys (Argon2id is slow on purpose: the files are
// written while the events are recorded).
func (d *demo) generateKeys() (*errGroup, error) {
	kdir := filepath.Join(d.dir, "demo-keys")
	if err := os.MkdirAll(kdir, 0o700); err != nil {
		return nil, err
	}
	params := kdfParams
	if params == keyfile.DefaultParams {
		params = demoKDF
	}
	g := &errGroup{sema: make(chan struct{}, 2)}
	write := func(file, name string, k ed25519.PrivateKey) {
		g.Go(func() error {
			if err := keyfile.WriteParams(filepath.Join(kdir, file), k, d.pass, name, params); err != nil {
				return fmt.Errorf("write demo key %s: %w", file, err)
			}
			return nil
		})
	}
	gen := func() ed25519.PrivateKey {
		k, err := keyfile.Generate()
		if err != nil {
			panic(err) // crypto/rand does not fail
		}
		return k
	}
	for _, cf := range demoCertifiers {
		a := &demoActor{id: uuid.New(), key: gen(), name: cf.name}
		d.certifiers[cf.slug] = a
		write(cf.slug+".key", cf.en+" certifier key (demo)", a.key)
	}
	d.regulator = &demoActor{id: uuid.New(), key: gen(), name: demoRegulator.name}
	write("regulator.key", demoRegulator.en+" regulator key (demo)", d.regulator.key)
	for _, e := range demoEnterprises {
		a := &demoActor{id: uuid.New(), key: gen(), labelKey: gen(), name: e.name}
		d.ents[e.slug] = a
		write(e.slug+".key", e.en+" enterprise key (demo)", a.key)
		write(e.slug+"-label.key", e.en+" label key (demo)", a.labelKey)
	}
	return g, nil
}

// enrol registers the certification bodies and the enterprises, and enrols their keys (operator).
func (d *demo) enrol() error {
	for _, cf := range demoCertifiers {
		a := d.certifiers[cf.slug]
		schemes := []string{event.SchemeSantong}
		if cf.slug == "certifier-eco" {
			schemes = []string{event.SchemeEcoOrigin}
		}
		if _, err := d.submit(event.New(ledger.RegistryChain, a.id, &event.Certifier{
			Accreditation: cf.accreditation, Name: cf.name + " (" + cf.en + ")", Schemes: schemes, USCC: demoUSCC(cf.uscc17)}), d.op); err != nil {
			return err
		}
		if _, err := d.submit(event.New(ledger.RegistryChain, a.id, &event.KeyEnrolment{
			Key: a.key.Public().(ed25519.PublicKey), Name: cf.en + " signing key", Role: event.RoleCertifier}), d.op); err != nil {
			return err
		}
	}
	rg := d.regulator
	if _, err := d.submit(event.New(ledger.RegistryChain, rg.id, &event.Regulator{Kind: event.RegulatorMarket,
		Name: demoRegulator.name + " (" + demoRegulator.en + ")", USCC: demoUSCC(demoRegulator.uscc17)}), d.op); err != nil {
		return err
	}
	if _, err := d.submit(event.New(ledger.RegistryChain, rg.id, &event.KeyEnrolment{
		Key: rg.key.Public().(ed25519.PublicKey), Name: demoRegulator.en + " signing key", Role: event.RoleRegulator}), d.op); err != nil {
		return err
	}
	for _, e := range demoEnterprises {
		a := d.ents[e.slug]
		if _, err := d.submit(event.New(a.id, a.id, &event.Enterprise{Address: e.address, ExportFiling: e.filing,
			Name: e.name + " (" + e.en + ")", USCC: demoUSCC(e.uscc17), Phone: e.phone, Email: e.email, Website: e.website}), d.op); err != nil {
			return err
		}
		for _, k := range []struct {
			key  ed25519.PrivateKey
			role event.Role
			name string
		}{{a.key, event.RoleEnterprise, "enterprise key"}, {a.labelKey, event.RoleLabel, "label key"}} {
			if _, err := d.submit(event.New(a.id, a.id, &event.KeyEnrolment{
				Key: k.key.Public().(ed25519.PublicKey), Name: e.en + " " + k.name, Role: k.role}), d.op); err != nil {
				return err
			}
		}
	}
	return nil
}

// register records the products and the enterprises' self-declarations (enterprise keys).
func (d *demo) register() error {
	for _, e := range demoEnterprises {
		a := d.ents[e.slug]
		for i, p := range e.products {
			id := uuid.New()
			line := fmt.Sprintf("%s 一号线 Line %d (export and domestic)", e.slug, i+1)
			if _, err := d.submit(event.New(a.id, id, p.body(line)), a.key); err != nil {
				return err
			}
			d.products[e.slug] = append(d.products[e.slug], id)
		}
		if e.slug == "shanquan" {
			continue // an eco-origin producer only
		}
		if _, err := d.submit(event.New(a.id, a.id, &event.Declaration{Document: docHash(e.slug + " self-declaration"),
			Products: d.products[e.slug], Standards: e.products[0].standards}), a.key); err != nil {
			return err
		}
	}
	return nil
}

// audit records an audit and, when it passed, grants a certificate on it; it returns the
// certificate's id (uuid.Nil for an audit that did not pass).
func (d *demo) audit(certifier, ent string, au event.Audit, number, from, until string, supersedes ...uuid.UUID) (uuid.UUID, error) {
	cf, a := d.certifiers[certifier], d.ents[ent]
	auditID := uuid.New()
	au.Reports = []string{docHash(number + " audit report " + au.Date)}
	if _, err := d.submit(event.New(a.id, auditID, &au), cf.key); err != nil {
		return uuid.Nil, err
	}
	if au.Result != event.ResultPass {
		return uuid.Nil, nil
	}
	certID := uuid.New()
	_, err := d.submit(event.New(a.id, certID, &event.Grant{Audit: auditID, Number: number, Products: au.Products,
		Scheme: au.Scheme, Scope: au.Scope, Supersedes: supersedes, ValidFrom: from, ValidUntil: until}), cf.key)
	return certID, err
}

// certify records the audits and grants: product certificates of the 三同 scheme for five
// enterprises, enterprise certificates for two, eco-origin certificates (one of them expired).
func (d *demo) certify() error {
	auditors := []string{"专家组长 示范甲 (lead auditor, demo)", "审核员 示范乙 (auditor, demo)"}
	n := 0
	for _, e := range demoEnterprises {
		if e.slug == "shanquan" {
			continue
		}
		n++
		if e.slug == "yunti" { // a conditional audit first: findings to close
			if _, err := d.audit("certifier-santong", e.slug, event.Audit{Auditors: auditors, Date: d.day(-75),
				Attachments: d.attach(event.AttachFinding, "出口线与内销线的老化测试记录不一致 (burn-in test records differ between export and domestic lines)"),
				Products:    d.products[e.slug], Result: event.ResultConditional, Scheme: event.SchemeSantong, Scope: event.ScopeProducts},
				"", "", ""); err != nil {
				return err
			}
		}
		var renews []uuid.UUID
		if e.slug == "bailu" { // a certificate renewed early (换证): the two are one history
			old, err := d.audit("certifier-santong", e.slug, event.Audit{Auditors: auditors, Date: d.day(-172),
				Products: d.products[e.slug], Result: event.ResultPass, Scheme: event.SchemeSantong, Scope: event.ScopeProducts},
				fmt.Sprintf("STP-DEMO-%s-0100", d.day(0)[:4]), d.day(-170), d.day(190))
			if err != nil {
				return err
			}
			renews = []uuid.UUID{old}
		}
		id, err := d.audit("certifier-santong", e.slug, event.Audit{Auditors: auditors, Date: d.day(-60 + n),
			Products: d.products[e.slug], Result: event.ResultPass, Scheme: event.SchemeSantong, Scope: event.ScopeProducts},
			fmt.Sprintf("STP-DEMO-%s-%04d", d.day(0)[:4], n), d.day(-50+n), d.day(-51+n+3*365), renews...)
		if err != nil {
			return err
		}
		d.certs[e.slug] = id
		if e.slug == "qinglan" || e.slug == "muxi" {
			if _, err := d.audit("certifier-santong", e.slug, event.Audit{Auditors: auditors, Date: d.day(-60 + n),
				Result: event.ResultPass, Scheme: event.SchemeSantong, Scope: event.ScopeEnterprise},
				fmt.Sprintf("STE-DEMO-%s-%04d", d.day(0)[:4], n), d.day(-50+n), d.day(-51+n+3*365)); err != nil {
				return err
			}
		}
	}
	eco := []string{"生态原产地评定员 示例丙 (evaluator, demo)", "生态原产地评定员 示例丁 (evaluator, demo)"}
	// Qinglan's green tea under the eco-origin scheme too.
	if _, err := d.audit("certifier-eco", "qinglan", event.Audit{Auditors: eco, Date: d.day(-40),
		Products: d.products["qinglan"][:1], Result: event.ResultPass, Scheme: event.SchemeEcoOrigin, Scope: event.ScopeProducts},
		"ECO-DEMO-0001", d.day(-35), d.day(-36+5*365)); err != nil {
		return err
	}
	// Shanquan: an eco-origin certificate that has expired, and its renewal.
	old := d.day(-170)
	d.expired = expiredCert{number: "ECO-DEMO-0002", until: d.day(-8), ent: "shanquan"}
	if _, err := d.audit("certifier-eco", "shanquan", event.Audit{Auditors: eco, Date: old,
		Products: d.products["shanquan"], Result: event.ResultPass, Scheme: event.SchemeEcoOrigin, Scope: event.ScopeProducts},
		d.expired.number, old, d.expired.until); err != nil {
		return err
	}
	id, err := d.audit("certifier-eco", "shanquan", event.Audit{Auditors: eco, Date: d.day(-20),
		Products: d.products["shanquan"], Result: event.ResultPass, Scheme: event.SchemeEcoOrigin, Scope: event.ScopeProducts},
		"ECO-DEMO-0003", d.day(-7), d.day(-8+5*365))
	d.certs["shanquan"] = id // its label batches rest on the eco-origin certificate
	return err
}

// issue records one label batch per enterprise, for the product that has a lot (enterprise keys).
func (d *demo) issue() error {
	for _, e := range demoEnterprises {
		a := d.ents[e.slug]
		for i, p := range e.products {
			if p.lot == "" {
				continue
			}
			id := uuid.New()
			rc, err := d.submit(event.New(a.id, id, &event.Batch{Certificate: d.certs[e.slug], FirstSerial: 1,
				LabelKey: event.KeyIDOf(a.labelKey.Public().(ed25519.PublicKey)), Lot: p.lot, Product: d.products[e.slug][i],
				ProductionDate: d.day(-3), Quantity: 5000}), a.key)
			if err != nil {
				return err
			}
			pr, err := d.reg.Product(d.products[e.slug][i])
			if err != nil {
				return err
			}
			schemes, err := productSchemes(d.reg, pr)
			if err != nil {
				return err
			}
			d.batches[e.slug] = demoBatch{id: id, index: rc.Index, product: p.name, lot: p.lot, schemes: schemes}
		}
	}
	return nil
}

// draw makes a 双随机 draw of two 三同-certified enterprises from a fresh checkpoint, and records
// a random inspection of each target.
func (d *demo) draw() error {
	if _, err := d.reg.Log().SignCheckpoint(d.ctx); err != nil {
		return fmt.Errorf("sign a checkpoint: %w", err)
	}
	cf := d.certifiers["certifier-santong"]
	dr, err := d.reg.NewDraw(d.ctx, cert.DrawRequest{Scheme: event.SchemeSantong, Count: 2, Inspectors: demoInspectors, PerTarget: 2})
	if err != nil {
		return fmt.Errorf("make the draw: %w", err)
	}
	rc, err := d.submit(event.New(ledger.RegistryChain, uuid.New(), dr), cf.key)
	if err != nil {
		return err
	}
	for _, t := range dr.Targets {
		for slug, a := range d.ents {
			if a.id != t.Enterprise {
				continue
			}
			if _, err := d.submit(event.New(a.id, uuid.New(), &event.Inspection{Certificate: d.certs[slug], Date: d.day(0),
				Draw: rc.Index, Kind: "random", Result: event.ResultPass,
				Attachments: d.attach(event.AttachFinding, "双随机抽查：抽样产品与出口产品同线同标同质 (random check: samples match the export products)")}), cf.key); err != nil {
				return err
			}
		}
	}
	return nil
}

// supervise is the follow-up supervision: a suspension with rectification and reinstatement, a
// suspension still open, a revocation after a complaint, and a returned export batch.
func (d *demo) supervise() error {
	cf := d.certifiers["certifier-santong"]
	inspect := func(ent, kind, date, result string, findings ...string) (uuid.UUID, error) {
		id := uuid.New()
		_, err := d.submit(event.New(d.ents[ent].id, id, &event.Inspection{Certificate: d.certs[ent], Date: date,
			Attachments: d.attach(event.AttachFinding, findings...), Kind: kind, Result: result, Reports: []string{docHash(ent + kind + date)}}), cf.key)
		return id, err
	}
	status := func(ent string, body event.Body) error {
		_, err := d.submit(event.New(d.ents[ent].id, d.certs[ent], body), cf.key)
		return err
	}
	// What a complaint says and who made it are confidential: the public record says only that
	// a complaint about product consistency came in.
	complaint := func(ent, channel, details string) (uuid.UUID, error) {
		id := uuid.New()
		atts := append(d.attach(event.AttachComplaint, details), d.attach(event.AttachContact, "投诉人 示例 (complainant, demo), 电话 010-0000-0000")...)
		_, err := d.submit(event.New(d.ents[ent].id, id, &event.Complaint{Attachments: atts, Channel: channel,
			Summary: "内外销产品一致性 (consistency of export and domestic products)", Products: d.products[ent][:1]}), cf.key)
		return id, err
	}

	// Muxi: failed, suspended, rectified, re-inspected, reinstated.
	if _, err := inspect("muxi", "routine", d.day(-6), event.ResultFail,
		"内销批次面料克重低于出口批次 (domestic fabric weight below the export batch)"); err != nil {
		return err
	}
	if err := status("muxi", &event.Suspension{Reason: "跟踪检查不合格：内销与出口产品不同质 (follow-up inspection failed: domestic and export products differ)",
		RectifyBy: d.day(30)}); err != nil {
		return err
	}
	today := time.Now().In(event.CST).Format(event.DateFormat) // not before the suspension's day
	re, err := inspect("muxi", "reinspection", today, event.ResultPass, "整改完成：统一面料供应商与检验规程 (rectified: one fabric supplier and test procedure)")
	if err != nil {
		return err
	}
	if err := status("muxi", &event.Reinstatement{Inspection: re}); err != nil {
		return err
	}

	// Yunti: a complaint, a failed inspection, suspended until rectified.
	if _, err := complaint("yunti", "12315 热线 (consumer hotline, demo)",
		"内销水壶的温控器与出口型号不同 (the domestic kettle's thermostat differs from the export model)"); err != nil {
		return err
	}
	if _, err := inspect("yunti", "complaint", d.day(-2), event.ResultFail,
		"内销批次使用不同型号温控器 (domestic batches use another thermostat model)"); err != nil {
		return err
	}
	if err := status("yunti", &event.Suspension{Reason: "投诉核查不合格，限期整改 (complaint check failed; rectify by the deadline)",
		RectifyBy: d.day(45)}); err != nil {
		return err
	}

	// Jincheng: a complaint, a failed complaint inspection, revocation; the complaint closed.
	cj, err := complaint("jincheng", "平台举报 (platform report, demo)",
		"内销罐头添加了出口产品未使用的色素 (domestic cans contain a colouring the export product does not)")
	if err != nil {
		return err
	}
	if _, err := inspect("jincheng", "complaint", d.day(-1), event.ResultFail,
		"内销线使用不同配方，出口标准不符 (the domestic line uses another recipe; export standard not met)"); err != nil {
		return err
	}
	if err := status("jincheng", &event.Revocation{Reason: "同线同标同质承诺严重不实，撤销认证，收回标志与证书 (the santong commitment was seriously false: revoked; marks and certificates recalled)"}); err != nil {
		return err
	}
	if _, err := d.submit(event.New(d.ents["jincheng"].id, cj, &event.ComplaintClosure{
		Outcome: "举报属实，认证已撤销 (substantiated; certification revoked)"}), cf.key); err != nil {
		return err
	}
	// A complaint about Qinglan that turned out unfounded.
	cq, err := complaint("qinglan", "电子邮件 (email, demo)", "怀疑内销绿茶并非明前茶 (suspects the domestic green tea is not pre-Qingming)")
	if err != nil {
		return err
	}
	if _, err := d.submit(event.New(d.ents["qinglan"].id, cq, &event.ComplaintClosure{
		Outcome: "核查采摘与加工记录，举报不属实 (picking and processing records checked; unfounded)"}), cf.key); err != nil {
		return err
	}

	// Bailu: an export batch returned by the destination's customs (退运), recalled by the enterprise.
	b := d.batches["bailu"]
	if _, err = d.submit(event.New(d.ents["bailu"].id, b.id, &event.Recall{Kind: event.RecallReturn,
		Reason: "目的国海关以标签不符为由退运，该批次召回 (returned by the destination's customs for non-conforming labelling; batch recalled)"}),
		d.ents["bailu"].key); err != nil {
		return err
	}

	// The market regulator inspects Bailu after the return; its findings are confidential.
	if _, err := d.submit(event.New(d.ents["bailu"].id, uuid.New(), &event.Inspection{Certificate: d.certs["bailu"],
		Date: d.day(0), Kind: "routine", Result: event.ResultPass,
		Attachments: d.attach(event.AttachFinding, "退运批次标签已整改，内销批次抽样合格 (the returned batch's labels corrected; domestic samples conform)")}),
		d.regulator.key); err != nil {
		return err
	}

	// What the rules refuse: the eco-origin body revoking a 三同 certificate another body granted.
	_, err = d.submit(event.New(d.ents["yunti"].id, d.certs["yunti"], &event.Revocation{
		Reason: "示范：越权撤销 (demo: a revocation by a body that did not grant the certificate)"}), d.certifiers["certifier-eco"].key)
	if fault.CodeOf(err) != fault.Forbidden {
		return fmt.Errorf("the demo's cross-body revocation was not refused as forbidden: %v", err)
	}
	d.refused = append(d.refused, "the eco-origin body revoking Yunti's 三同 certificate: "+fault.MessageOf(err))
	return nil
}
