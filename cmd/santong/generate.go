package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/keyfile"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// cmdDevGenerate fills a freshly initialised data directory with a registry of generated,
// fictitious enterprises, products, certificates and label batches, through the real write path
// (signed events submitted to the registry, checked by the lifecycle hook), for load and start-up
// measurements (docs/benchmarks.md). The generated actors' keys derive from a public seed: the
// data is for measurement only.
func cmdDevGenerate(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("dev generate")
	data := fs.String("data", "", "the data directory, initialised and otherwise empty (default $SANTONG_DATA or ./"+defaultData+")")
	var g genSpec
	fs.IntVar(&g.Enterprises, "enterprises", 100, "enterprises to register")
	fs.IntVar(&g.Products, "products", 1000, "products, spread evenly over the enterprises")
	fs.IntVar(&g.Certificates, "certificates", 100, "product certificates, one per enterprise, covering its products (at most --enterprises)")
	fs.IntVar(&g.Batches, "batches", 1000, "label batches, spread over the certified products")
	workers := fs.Int("workers", 256, "concurrent submitters")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := g.check(); err != nil {
		return err
	}
	if *workers < 1 {
		return usagef("--workers must be at least 1")
	}
	dir := dataDir(c, *data)
	reg, cfg, err := c.openRegistry(dir)
	if err != nil {
		return err
	}
	defer reg.Close()
	if n := reg.Log().Size(); n != 1 {
		return withHint(fmt.Errorf("%s already holds %d records: generate only into a data directory that holds just its first record", dir, n),
			"create a fresh one: santong init --data NEWDIR")
	}
	pass, err := c.passphrase("passphrase for " + dir + ": ")
	if err != nil {
		return err
	}
	op, err := keyfile.Read(filepath.Join(dir, "keys", "operator.key"), pass)
	if err != nil {
		return fmt.Errorf("open the operator key: %w", err)
	}
	if cfg.OperatorKey != event.KeyIDOf(op.Public().(ed25519.PublicKey)).String() {
		return errors.New("keys/operator.key is not the operator key named in santong.json")
	}
	start := time.Now()
	if err := generate(ctx, reg, op, &g, *workers, func(phase string, n int, took time.Duration) {
		switch {
		case took > 0: // a phase ended
			fmt.Fprintf(c.stderr, "\r%-14s %9d in %6.1f s (%.0f/s)%20s\n", phase, n, took.Seconds(), float64(n)/took.Seconds(), "")
		case c.tty:
			fmt.Fprintf(c.stderr, "\r%-14s %9d records  %6.0f s", phase, reg.Log().Size(), time.Since(start).Seconds())
		}
	}); err != nil {
		return err
	}
	if _, err := reg.Log().SignCheckpoint(ctx); err != nil {
		return fmt.Errorf("sign a checkpoint: %w", err)
	}
	g.Records = reg.Log().Size()
	g.Seconds = time.Since(start).Seconds()
	b, _ := json.MarshalIndent(&g, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, genManifest), append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "generated %d records in %.0f s (%.0f/s): %d enterprises, %d products, %d certificates, %d batches (records %d to %d)\n",
		g.Records, g.Seconds, float64(g.Records-1)/g.Seconds, g.Enterprises, g.Products, g.Certificates, g.Batches, g.BatchFirst, g.BatchLast)
	return nil
}

// genManifest is the file, in the data directory, that says what was generated.
const genManifest = "generated.json"

// genSpec is what to generate, and where the batches went.
type genSpec struct {
	Enterprises, Products, Certificates, Batches int
	Origin                                       string
	Certifier                                    uuid.UUID
	BatchFirst, BatchLast                        int64 // the batches' record indexes: every record between is one
	Records                                      int64
	Seconds                                      float64
}

func (g *genSpec) check() error {
	switch {
	case g.Enterprises < 1:
		return usagef("--enterprises must be at least 1")
	case g.Products < 0 || g.Batches < 0 || g.Certificates < 0:
		return usagef("counts must not be negative")
	case g.Certificates > g.Enterprises:
		return usagef("--certificates must be at most --enterprises (one product certificate per enterprise)")
	case g.Batches > 0 && (g.Certificates == 0 || g.Products < g.Enterprises):
		return usagef("batches need certificates and at least one product per enterprise")
	case g.Products/g.Enterprises > 1000:
		return usagef("at most 1000 products per enterprise (a certificate's product list)")
	}
	return nil
}

// genKey derives a generated actor's key from its role and number: public, for fictitious data.
func genKey(role string, i int) ed25519.PrivateKey {
	s := sha256.Sum256([]byte("santong dev generate/" + role + "/" + strconv.Itoa(i)))
	return ed25519.NewKeyFromSeed(s[:])
}

// genID derives a generated object's id.
func genID(kind string, i int) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("santong dev generate/"+kind+"/"+strconv.Itoa(i)))
}

// genLot is the lot of batch m of enterprise e: the enterprise's number is read back from it
// to sign a token (genLotEnterprise).
func genLot(e, m int) string { return fmt.Sprintf("G%d-%d", e, m) }

func genLotEnterprise(lot string) (int, bool) {
	s, ok := strings.CutPrefix(lot, "G")
	if !ok {
		return 0, false
	}
	s, _, ok = strings.Cut(s, "-")
	n, err := strconv.Atoi(s)
	return n, ok && err == nil
}

var (
	genRegions = []string{"浙江", "江苏", "广东", "山东", "福建", "四川", "湖北", "河南", "安徽", "云南"}
	genWords   = []string{"青岚", "白鹭", "金城", "云梯", "木犀", "山泉", "海川", "松风", "明月", "丰禾", "瑞祥", "恒信"}
	genTrades  = []string{"食品", "茶业", "纺织", "电器", "农产品", "日用品", "机械", "罐头"}
	genGoods   = []string{"绿茶", "水壶", "衬衫", "罐头", "大米", "毛巾", "茶具", "蜂蜜", "果脯", "电饭煲"}
)

func genEnterpriseName(i int) string {
	return fmt.Sprintf("%s%s%s有限公司 %d (Generated Enterprise %d)", genRegions[i%len(genRegions)],
		genWords[(i/len(genRegions))%len(genWords)], genTrades[i%len(genTrades)], i, i)
}

func genProductName(j int) string {
	return fmt.Sprintf("%s %d 型 (Generated Product %d)", genGoods[j%len(genGoods)], j, j)
}

// genUSCC is enterprise i's credit code.
func genUSCC(i int) string { return demoUSCC(fmt.Sprintf("91%06d%09d", 330100+i%100, i)) }

// genGTIN is product j's GTIN-13.
func genGTIN(j int) string { return demoGTIN(fmt.Sprintf("69%010d", j)) }

// generate records the registry g describes into reg (which holds only its first record), in
// phases whose events depend only on earlier phases; within a phase workers sign and submit
// concurrently, so that signing uses every core and the log commits in large groups.
func generate(ctx context.Context, reg *cert.Registry, op ed25519.PrivateKey, g *genSpec, workers int, progress func(phase string, n int, took time.Duration)) error {
	now := time.Now()
	day := func(d int) string { return now.In(event.CST).AddDate(0, 0, d).Format(event.DateFormat) }
	E, P, C, B := g.Enterprises, g.Products, g.Certificates, g.Batches
	g.Origin = reg.Log().Origin()
	g.Certifier = genID("certifier", 0)
	certKey := genKey("certifier", 0)
	// Product j belongs to enterprise j%E; certificate k covers the products of enterprise k;
	// batch m is of product m%(certified products), whose enterprise holds a certificate.
	productsOf := func(e int) []uuid.UUID {
		var ps []uuid.UUID
		for j := e; j < P; j += E {
			ps = append(ps, genID("product", j))
		}
		return ps
	}
	type gen func(i int) (*event.Event, ed25519.PrivateKey)
	phase := func(name string, n int, f gen) (first, last int64, err error) {
		t0 := time.Now()
		var next atomic.Int64
		var mu sync.Mutex
		first, last = -1, -1
		var wg sync.WaitGroup
		for w := 0; w < min(workers, n); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= n || ctx.Err() != nil {
						return
					}
					ev, k := f(i)
					b, serr := ev.Sign(k)
					var rc ledger.Receipt
					if serr == nil {
						rc, serr = reg.Submit(ctx, b)
					}
					mu.Lock()
					if serr != nil && err == nil {
						err = fmt.Errorf("%s %d (%s): %w", name, i, ev.Type, serr)
						next.Store(int64(n)) // stop the others
					}
					if serr == nil {
						if first < 0 || rc.Index < first {
							first = rc.Index
						}
						last = max(last, rc.Index)
					}
					mu.Unlock()
				}
			}()
		}
		done := make(chan struct{})
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					progress(name, int(next.Load()), 0)
				}
			}
		}()
		wg.Wait()
		close(done)
		progress(name, n, time.Since(t0))
		if err == nil {
			err = ctx.Err()
		}
		return first, last, err
	}
	steps := []struct {
		name string
		n    int
		f    gen
	}{
		{"certifier", 1, func(int) (*event.Event, ed25519.PrivateKey) {
			return event.New(ledger.RegistryChain, g.Certifier, &event.Certifier{Accreditation: "CNCA-R-GEN-0001 (fictitious)",
				Name: "生成认证机构 (Generated Certifier)", USCC: demoUSCC("12100000MB1GENQ01")}), op
		}},
		{"certifier key", 1, func(int) (*event.Event, ed25519.PrivateKey) {
			return event.New(ledger.RegistryChain, g.Certifier, &event.KeyEnrolment{Key: certKey.Public().(ed25519.PublicKey),
				Name: "generated certifier key", Role: event.RoleCertifier}), op
		}},
		{"enterprises", E, func(i int) (*event.Event, ed25519.PrivateKey) {
			id := genID("enterprise", i)
			return event.New(id, id, &event.Enterprise{Address: fmt.Sprintf("%s省生成市 %d 号 (No. %d, Generated City)", genRegions[i%len(genRegions)], i, i),
				ExportFiling: fmt.Sprintf("GEN-%08d", i), Name: genEnterpriseName(i), USCC: genUSCC(i)}), op
		}},
		{"keys", 2 * E, func(i int) (*event.Event, ed25519.PrivateKey) {
			e, role, name := i/2, event.RoleEnterprise, "enterprise key"
			k := genKey("enterprise", e)
			if i%2 == 1 {
				role, name, k = event.RoleLabel, "label key", genKey("label", e)
			}
			id := genID("enterprise", e)
			return event.New(id, id, &event.KeyEnrolment{Key: k.Public().(ed25519.PublicKey), Name: "generated " + name, Role: role}), op
		}},
		{"products", P, func(j int) (*event.Event, ed25519.PrivateKey) {
			e := j % E
			std := []string{"GB/T 0000-GEN"}
			return event.New(genID("enterprise", e), genID("product", j), &event.Product{Category: event.Categories[j%len(event.Categories)],
				DomesticStandards: std, ExportStandards: std, GTIN: genGTIN(j), Lines: []string{fmt.Sprintf("Line %d", j%7+1)},
				Name: genProductName(j)}), genKey("enterprise", e)
		}},
		{"audits", C, func(k int) (*event.Event, ed25519.PrivateKey) {
			return event.New(genID("enterprise", k), genID("audit", k), &event.Audit{Auditors: []string{"生成审核员 (generated auditor)"},
				Date: day(-60), Products: productsOf(k), Result: event.ResultPass, Scheme: event.SchemeSantong,
				Scope: event.ScopeProducts}), certKey
		}},
		{"certificates", C, func(k int) (*event.Event, ed25519.PrivateKey) {
			return event.New(genID("enterprise", k), genID("certificate", k), &event.Grant{Audit: genID("audit", k),
				Number: fmt.Sprintf("STP-GEN-%08d", k), Products: productsOf(k), Scheme: event.SchemeSantong,
				Scope: event.ScopeProducts, ValidFrom: day(-50), ValidUntil: day(2 * 365)}), certKey
		}},
	}
	for _, s := range steps {
		if _, _, err := phase(s.name, s.n, s.f); err != nil {
			return err
		}
	}
	// Batches: of the products of the certified enterprises (product j with j%E < C).
	perEnt := P / E
	first, last, err := phase("batches", B, func(m int) (*event.Event, ed25519.PrivateKey) {
		e := m % C
		j := e + E*((m/C)%perEnt)
		return event.New(genID("enterprise", e), genID("batch", m), &event.Batch{Certificate: genID("certificate", e), FirstSerial: 1,
			LabelKey: event.KeyIDOf(genKey("label", e).Public().(ed25519.PublicKey)), Lot: genLot(e, m), Product: genID("product", j),
			ProductionDate: day(-1), Quantity: 10000}), genKey("enterprise", e)
	})
	g.BatchFirst, g.BatchLast = first, last
	return err
}
