package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/attach"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/santong-cn/santong/internal/diskspace"
	"github.com/santong-cn/santong/verify"
	"github.com/santong-cn/santong/verify/scanstore"
)

// ledgerAllocation is the disk space the ledger's Badger may allocate ahead of writing it (its
// write-ahead memtable files), counted into the default watermark's floor.
const ledgerAllocation = 2 * 64 << 20

// demoPassphrase encrypts the keys of a data directory that 'serve --demo' creates when
// SANTONG_PASSPHRASE is not set: demo data is fictitious, and the README's one command must run
// without a prompt.
const demoPassphrase = "santong-demo"

// cmdServe runs the verification service on a data directory.
func cmdServe(ctx context.Context, c *cli, args []string) (rerr error) {
	if followArg(args) != "" {
		return cmdFollow(ctx, c, args) // a verification replica: follow.go
	}
	fs := c.flags("serve")
	fs.String("follow", "", "run a verification replica of the primary at this URL instead ('santong serve --follow URL -h' lists its flags)")
	data := fs.String("data", "", "the data directory (default $SANTONG_DATA or ./"+defaultData+")")
	addr := fs.String("addr", c.env("SANTONG_ADDR", "127.0.0.1:8080"), "the address to listen on ($SANTONG_ADDR)")
	demo := fs.Bool("demo", false, "on an empty data directory, initialise it and load the demo dataset first")
	publicURL := fs.String("public-url", c.getenv("SANTONG_PUBLIC_URL"), "the service's public base URL, for absolute links ($SANTONG_PUBLIC_URL)")
	proxies := fs.String("trusted-proxies", c.getenv("SANTONG_TRUSTED_PROXIES"), "comma-separated proxy IPs or CIDRs whose X-Forwarded-For is believed ($SANTONG_TRUSTED_PROXIES; none by default)")
	cloneScans := fs.Int("clone-scans", envInt(c, "SANTONG_CLONE_SCANS", 50), "scans of one code (one client's within a day counted once) after which it is reported as possibly cloned ($SANTONG_CLONE_SCANS)")
	cloneClients := fs.Int("clone-clients", envInt(c, "SANTONG_CLONE_CLIENTS", 10), "distinct clients after which a code is reported as possibly cloned ($SANTONG_CLONE_CLIENTS)")
	operator := fs.String("operator", c.getenv("SANTONG_OPERATOR"), "the operator's name on every page, Chinese|English, e.g. \"某某认证联盟|Example Alliance\" ($SANTONG_OPERATOR; default 产品认证公开验证服务)")
	region := fs.String("region", c.getenv("SANTONG_REGION"), "the region of scans that a trusted proxy's X-Santong-Region header does not name ($SANTONG_REGION; none by default)")
	cloneRegions := fs.Int("clone-regions", envInt(c, "SANTONG_CLONE_REGIONS", 3), "distinct regions after which a code is reported as possibly cloned ($SANTONG_CLONE_REGIONS)")
	every := fs.Duration("checkpoint-interval", envDuration(c, "SANTONG_CHECKPOINT_INTERVAL", 250*time.Millisecond), "how soon after appends a new checkpoint is signed ($SANTONG_CHECKPOINT_INTERVAL)")
	rate := fs.Float64("rate-limit", float64(envInt(c, "SANTONG_RATE_LIMIT", 20)), "requests per second allowed to one client IP on public endpoints; negative: none ($SANTONG_RATE_LIMIT)")
	mirrorRate := fs.Float64("mirror-rate-limit", float64(envInt(c, "SANTONG_MIRROR_RATE_LIMIT", 1000)), "requests per second allowed to one client IP on /checkpoint and /tile/ (mirrors and monitors; burst 20,000); negative: none ($SANTONG_MIRROR_RATE_LIMIT)")
	wf := addWitnessFlags(fs, c)
	retention := fs.Duration("scan-retention", envDuration(c, "SANTONG_SCAN_RETENTION", scanstore.DefaultRetention), "how long each scan's row is kept; the per-code counts stay; negative: forever ($SANTONG_SCAN_RETENTION)")
	watermark := fs.String("disk-watermark", c.getenv("SANTONG_DISK_WATERMARK"), "free disk space below which scans are not recorded and writes refused, e.g. 2GiB (default: 1 GiB or 5% of the disk, whichever is smaller, and at least the stores' file allocation) ($SANTONG_DISK_WATERMARK)")
	scanMem := fs.String("scan-memtable-size", c.getenv("SANTONG_SCAN_MEMTABLE_SIZE"), "the scan store's memtable size (default 8MiB; 3 are held) ($SANTONG_SCAN_MEMTABLE_SIZE)")
	scanBlock := fs.String("scan-block-cache", c.getenv("SANTONG_SCAN_BLOCK_CACHE"), "the scan store's block cache (default 16MiB) ($SANTONG_SCAN_BLOCK_CACHE)")
	scanDBs := fs.String("scans", c.getenv("SANTONG_SCANS"), scanDBsHelp) // scanspg.go
	scanIndex := fs.String("scan-index-cache", c.getenv("SANTONG_SCAN_INDEX_CACHE"), "the scan store's index and bloom-filter cache (default 16MiB) ($SANTONG_SCAN_INDEX_CACHE)")
	c.addLedgerMemoryFlags(fs)
	rf := addReportFlags(fs, c) // reports.go
	addStoreFlag(fs, c)         // store.go
	leaseTTL := fs.Duration("lease-ttl", envDuration(c, "SANTONG_LEASE_TTL", defaultLeaseTTL), "with --store: the writer lease's time to live; a standby takes over within it when the writer dies ($SANTONG_LEASE_TTL)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	dir := dataDir(c, *data)
	c.checkpointLock = *wf.lock
	if *every <= 0 {
		return usagef("--checkpoint-interval must be positive")
	}
	c.checkpointEvery = *every
	var mem scanstore.Memory
	var mark int64
	for _, f := range []struct {
		name, v string
		p       *int64
	}{{"scan-memtable-size", *scanMem, &mem.MemTableSize}, {"scan-block-cache", *scanBlock, &mem.BlockCacheSize},
		{"scan-index-cache", *scanIndex, &mem.IndexCacheSize}, {"disk-watermark", *watermark, &mark}} {
		var err error
		if *f.p, err = parseSize(f.name, f.v); err != nil {
			return err
		}
	}
	if mem.MemTableSize != 0 && mem.MemTableSize < 1<<20 {
		return usagef("--scan-memtable-size must be at least 1MiB")
	}
	if *retention == 0 {
		return usagef("--scan-retention must not be 0 (negative: keep forever)")
	}

	if *demo && c.getenv("SANTONG_PASSPHRASE") == "" {
		getenv := c.getenv
		c.getenv = func(k string) string {
			if k == "SANTONG_PASSPHRASE" {
				return demoPassphrase
			}
			return getenv(k)
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return withHint(fmt.Errorf("listen on %s: %w", *addr, err), "choose another address with --addr")
	}
	defer ln.Close()
	base := "http://" + ln.Addr().String()
	if *publicURL != "" {
		base = strings.TrimSuffix(*publicURL, "/")
	}

	if c.store != "" { // storeserve.go: a standby until this instance holds the writer lease
		if *demo {
			return usagef("--demo does not combine with --store")
		}
		var stopLease func() error
		var done bool
		if ctx, ln, stopLease, done, err = c.awaitLease(ctx, ln, base, *leaseTTL); err != nil || done {
			return err
		}
		defer func() {
			if lerr := stopLease(); lerr != nil && rerr == nil {
				rerr = lerr
			}
		}()
	}
	fresh := false
	if _, err := os.Stat(filepath.Join(dir, "santong.json")); os.IsNotExist(err) {
		if !*demo {
			return withHint(fmt.Errorf("%s is not a Santong data directory", dir), "create one with 'santong init --data %s', or run 'santong serve --demo'", dir)
		}
		prefix := strings.ToUpper(base) + "/Q/"
		// Each demo gets its own origin, so that two demos on one machine do not trip the
		// auditor's checkpoint memory of each other.
		var r [4]byte
		rand.Read(r[:])
		if _, err := initData(ctx, c, dir, fmt.Sprintf("santong.demo/%x", r), "三同 alliance (demo)", prefix); err != nil {
			return err
		}
		fresh = true
	}
	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c.ledgerLog = logger // the log's own warnings (its clock, the checkpoint lock, storage) go to the service's output
	reg, cfg, err := c.openRegistry(dir)
	if errors.Is(err, ledger.ErrStorage) && !*demo {
		return c.serveDegraded(ctx, ln, dir, base, err)
	}
	if err != nil {
		return err
	}
	defer reg.Close()
	if err := reg.Check(); err != nil {
		return withHint(fmt.Errorf("refusing to serve %s: %w", dir, err), "run 'santong log rebuild --data %s', then 'santong log verify --data %s'", dir, dir)
	}
	if *demo {
		if fresh {
			if c.getenv("SANTONG_PASSPHRASE") == demoPassphrase {
				fmt.Fprintf(c.stderr, "santong: demo keys in %s are encrypted with the passphrase %q\n", dir, demoPassphrase)
			}
			res, err := loadDemo(ctx, c, reg, cfg, dir, base)
			if err != nil {
				return fmt.Errorf("load the demo: %w", err)
			}
			res.print(c.stdout)
		} else {
			fmt.Fprintf(c.stdout, "%s already holds data: serving it as it is (delete it for a fresh demo)\n", dir)
		}
	}

	scans, err := openScanStore(ctx, dir, reg, *scanDBs, scanstore.Options{Retention: *retention, Memory: mem}, logger)
	if err != nil {
		return err
	}
	defer scans.Close() // after Run has drained the requests: the scans queued are recorded
	space, err := diskspace.New(diskspace.Options{Paths: c.storeSpacePaths(dir, scanSpacePaths(dir, *scanDBs)),
		Watermark: mark, Floor: mem.Allocation() + ledgerAllocation, Logger: logger})
	if err != nil {
		return err
	}
	defer space.Close() // its first poll has logged already if space is low
	var trusted []string
	for _, p := range strings.Split(*proxies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			trusted = append(trusted, p)
		}
	}
	witnesses, stopWitnesses, err := startWitnesses(ctx, reg.Log(), wf, cfg, logger)
	if err != nil {
		return err
	}
	defer stopWitnesses()
	adapter := verify.NewCertRegistry(reg)
	defer adapter.Close() // before reg.Close
	adapter.WarmSearch()
	adapter.WarmStats()
	deps := adapter.Deps()
	deps.Logger = logger
	deps.Scans = scans
	deps.Space = space
	files, err := attach.OpenStore(filepath.Join(dir, attachmentsDir))
	if err != nil {
		return err
	}
	deps.Attachments = &verify.CertAttachments{Registry: reg, Files: files}
	if deps.Images, err = verify.OpenImages(filepath.Join(dir, imagesDir)); err != nil { // image.go
		return err
	}
	if deps.Private, err = openPrivate(dir, reg); err != nil { // console.go
		return err
	}
	if deps.Reports, err = c.openReports(rf, dir, *demo, reg); err != nil { // reports.go
		return err
	}
	hooks := verify.NewWebhooks(verify.WebhookOptions{Dir: filepath.Join(dir, webhooksDir), Feed: deps.Changes,
		Log: reg.Log(), Origin: *publicURL, Logger: logger})
	deps.Collectors = append(deps.Collectors, hooks.Collectors()...)
	hookCtx, stopHooks := context.WithCancel(ctx)
	hooksDone := make(chan struct{})
	go func() { defer close(hooksDone); hooks.Run(hookCtx) }()
	defer func() { stopHooks(); <-hooksDone }() // before the registry closes
	srv := verify.New(verify.Config{
		Origin:          *publicURL,
		LogOrigin:       cfg.Origin,
		LogKey:          cfg.LogKey,
		LabelPrefix:     cfg.URLPrefix,
		TrustedProxies:  trusted,
		Clone:           verify.CloneRule{MaxScans: int64(*cloneScans), MaxRegions: *cloneRegions, MaxClients: int64(*cloneClients)},
		Region:          *region,
		RateLimit:       *rate,
		MirrorRateLimit: *mirrorRate,
		Samples:         readSampleIndex(dir),
		Operator:        operatorName(*operator), // operator.go
		Witnesses:       witnesses,
	}, deps)
	fmt.Fprintf(c.stdout, "santong: serving %s (origin %s) on %s\n", dir, cfg.Origin, base)
	fmt.Fprintf(c.stdout, "open %s/ for the registry; Ctrl-C stops\n", base)
	logger.Info("serving", "addr", ln.Addr().String(), "data", dir, "origin", cfg.Origin,
		"disk_free", space.Free(), "disk_watermark", space.Watermark())
	if err := srv.Run(ctx, ln); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

func envDuration(c *cli, name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(c.getenv(name)); err == nil {
		return v
	}
	return def
}

func envInt(c *cli, name string, def int) int {
	if v, err := strconv.Atoi(c.getenv(name)); err == nil {
		return v
	}
	return def
}

// serveDegraded serves a data directory whose ledger storage is damaged (ledger.ErrStorage at
// open): every request but /healthz answers 503 unavailable, so that monitoring sees an unready
// service and a consumer is told the code cannot be checked now, instead of a process that exits
// and is restarted in a loop. The error, with the file it names, goes to the operator's log only.
func (c *cli) serveDegraded(ctx context.Context, ln net.Listener, dir, base string, cause error) error {
	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	logger.Error("the ledger's storage is damaged: serving 503 until it is repaired", "data", dir, "err", cause)
	fmt.Fprintf(c.stderr, "santong: %s: %v\n", dir, cause)
	fmt.Fprintf(c.stderr, "santong: serving only 503 'unavailable' on %s until the storage is repaired: restore the latest backup into a new directory, check it with 'santong log verify', and serve that (docs/operations.md, Storage faults)\n", base)
	srv := verify.Degraded(verify.Config{}, "the ledger's storage is damaged and being repaired; scans cannot be checked now", logger)
	return srv.Run(ctx, ln)
}
