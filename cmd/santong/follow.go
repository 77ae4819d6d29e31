package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/santong-cn/santong/internal/diskspace"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/verify"
	"github.com/santong-cn/santong/verify/scanstore"
)

// 'santong serve --follow URL --data DIR' runs a verification replica (docs/operations.md,
// Replicas). DIR holds a copy of the primary's santong.json, which names only public keys: the
// log key the replica pins, the operator's root key id, the origin. The replica never holds a
// private key: it verifies what the primary serves (ledger.Follower) and applies it to its own
// log and projection in DIR/db, and answers every write with 503 and the primary's address.

// followArg returns the value of --follow in serve's arguments ("" when absent).
func followArg(args []string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		name, v, hasV := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "follow" {
			continue
		}
		if hasV {
			return v
		}
		if i+1 < len(args) {
			return args[i+1]
		}
		return "-" // a --follow without a value: let the flag parser say so
	}
	return ""
}

// replicaScanStore opens the scan store of a replica. By default its own, in DIR/scans, counting
// the scans it answers, with a scan.key of its own. With --scans (list: PostgreSQL shards shared
// with the primary and the other replicas, scanspg.go), it counts into them instead, and then
// needs the primary's DIR/scan.key copied beside santong.json: the key chooses each code's shard
// and hashes client addresses, so every instance sharing the shards must hold the same one.
func replicaScanStore(ctx context.Context, dir string, reg *cert.Registry, list string, o scanstore.Options, logger *slog.Logger) (scanstore.Store, error) {
	_, err := os.Stat(filepath.Join(dir, "scan.key"))
	switch {
	case list != "" && errors.Is(err, os.ErrNotExist):
		return nil, withHint(fmt.Errorf("--scans: %s has no scan.key", dir),
			"copy the primary's scan.key into %s: every instance counting into the same shards needs the same key", dir)
	case list == "" && errors.Is(err, os.ErrNotExist):
		k := make([]byte, 32)
		rand.Read(k)
		if err := os.WriteFile(filepath.Join(dir, "scan.key"), k, 0o600); err != nil {
			return nil, err
		}
	}
	return openScanStore(ctx, dir, reg, list, o, logger)
}

// cmdFollow is 'serve --follow'.
func cmdFollow(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("serve --follow")
	primary := fs.String("follow", "", "the primary's base URL: run a verification replica of it")
	data := fs.String("data", "", "the replica's data directory, holding a copy of the primary's santong.json (default $SANTONG_DATA or ./"+defaultData+")")
	addr := fs.String("addr", c.env("SANTONG_ADDR", "127.0.0.1:8080"), "the address to listen on ($SANTONG_ADDR)")
	publicURL := fs.String("public-url", c.getenv("SANTONG_PUBLIC_URL"), "the replica's public base URL, for absolute links ($SANTONG_PUBLIC_URL)")
	proxies := fs.String("trusted-proxies", c.getenv("SANTONG_TRUSTED_PROXIES"), "comma-separated proxy IPs or CIDRs whose X-Forwarded-For is believed ($SANTONG_TRUSTED_PROXIES)")
	cloneScans := fs.Int("clone-scans", envInt(c, "SANTONG_CLONE_SCANS", 50), "scans of one code after which it is reported as possibly cloned ($SANTONG_CLONE_SCANS)")
	cloneClients := fs.Int("clone-clients", envInt(c, "SANTONG_CLONE_CLIENTS", 10), "distinct clients after which a code is reported as possibly cloned ($SANTONG_CLONE_CLIENTS)")
	cloneRegions := fs.Int("clone-regions", envInt(c, "SANTONG_CLONE_REGIONS", 3), "distinct regions after which a code is reported as possibly cloned ($SANTONG_CLONE_REGIONS)")
	operator := fs.String("operator", c.getenv("SANTONG_OPERATOR"), "the operator's name on every page, Chinese|English ($SANTONG_OPERATOR)")
	region := fs.String("region", c.getenv("SANTONG_REGION"), "the region of scans that a trusted proxy's X-Santong-Region header does not name ($SANTONG_REGION)")
	rate := fs.Float64("rate-limit", float64(envInt(c, "SANTONG_RATE_LIMIT", 20)), "requests per second allowed to one client IP on public endpoints; negative: none ($SANTONG_RATE_LIMIT)")
	mirrorRate := fs.Float64("mirror-rate-limit", float64(envInt(c, "SANTONG_MIRROR_RATE_LIMIT", 1000)), "requests per second allowed to one client IP on /checkpoint and /tile/; negative: none ($SANTONG_MIRROR_RATE_LIMIT)")
	scanDBs := fs.String("scans", c.getenv("SANTONG_SCANS"), scanDBsHelp+"; a replica then needs the primary's scan.key")
	retention := fs.Duration("scan-retention", envDuration(c, "SANTONG_SCAN_RETENTION", scanstore.DefaultRetention), "how long each scan's row is kept; negative: forever ($SANTONG_SCAN_RETENTION)")
	interval := fs.Duration("follow-interval", envDuration(c, "SANTONG_FOLLOW_INTERVAL", time.Second), "how often the replica asks the primary for a new checkpoint ($SANTONG_FOLLOW_INTERVAL)")
	maxLag := fs.Duration("max-lag", envDuration(c, "SANTONG_MAX_LAG", 30*time.Second), "the replica is unready when it last held the primary's latest checkpoint longer ago than this ($SANTONG_MAX_LAG)")
	var witnessKeys []string
	fs.Func("witness-key", "a witness's cosignature/v1 verifier key: the primary's checkpoints need its cosignature (repeatable; santong.json's witnesses count too)", func(s string) error {
		if _, err := ledger.NewCosignatureVerifier(s); err != nil {
			return err
		}
		witnessKeys = append(witnessKeys, s)
		return nil
	})
	quorum := fs.Int("witnesses-required", -1, "how many of the witnesses must have cosigned each checkpoint (default: all of them)")
	c.addLedgerMemoryFlags(fs)
	if err := parse(fs, args, false); err != nil {
		return err
	}
	u, err := url.Parse(*primary)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--follow %q: want the primary's http(s) base URL", *primary)
	}
	if *interval <= 0 || *maxLag <= 0 {
		return usagef("--follow-interval and --max-lag must be positive")
	}
	dir := dataDir(c, *data)
	cfg, err := readConfig(dir)
	if err != nil {
		return withHint(err, "a replica pins the primary's keys: copy the primary's santong.json (public keys only) into %s first", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "keys", "log.key")); err == nil {
		return withHint(fmt.Errorf("%s holds a log key: it is a primary's data directory, not a replica's", dir),
			"give the replica a directory of its own with only a copy of the primary's santong.json")
	}
	if cfg.LogKey == "" || cfg.OperatorKey == "" {
		return withHint(fmt.Errorf("%s: santong.json pins no log key or operator key: refusing to follow a primary unverified", dir),
			"copy the primary's santong.json, which names both")
	}
	verifier, err := note.NewVerifier(cfg.LogKey)
	if err != nil || verifier.Name() != cfg.Origin {
		return fmt.Errorf("%s: santong.json's log_key is not a verifier key of origin %s", dir, cfg.Origin)
	}
	var ws []*ledger.CosignatureVerifier
	for _, s := range cfg.Witnesses {
		w, err := ledger.ParseWitness(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%s: santong.json: %w", dir, err)
		}
		witnessKeys = append(witnessKeys, w.Key.String())
	}
	seen := map[string]bool{}
	for _, s := range witnessKeys {
		if w, _ := ledger.NewCosignatureVerifier(s); !seen[w.Name()] {
			seen[w.Name()] = true
			ws = append(ws, w)
		}
	}
	if *quorum < 0 {
		*quorum = len(ws)
	}
	if *quorum > len(ws) {
		return usagef("--witnesses-required %d, but %d witnesses are given (--witness-key)", *quorum, len(ws))
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
	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		return err
	}
	opts := ledger.Options{Dir: filepath.Join(dir, "db"), Origin: cfg.Origin, Verifier: verifier, Follow: true, Logger: logger}
	c.ledgerMemory.apply(&opts)
	reg, err := openCert(dir, opts)
	if err != nil {
		return err
	}
	defer reg.Close()
	if reg.Log().Size() > 0 {
		if err := checkRoot(dir, reg.Log(), cfg); err != nil {
			return err
		}
		if err := reg.Check(); err != nil {
			return withHint(fmt.Errorf("refusing to serve %s: %w", dir, err), "remove %s and let the replica follow the primary again from the start", filepath.Join(dir, "db"))
		}
	}
	scans, err := replicaScanStore(ctx, dir, reg, *scanDBs, scanstore.Options{Retention: *retention}, logger)
	if err != nil {
		return err
	}
	defer scans.Close()
	space, err := diskspace.New(diskspace.Options{Paths: scanSpacePaths(dir, *scanDBs),
		Floor: ledgerAllocation, Logger: logger})
	if err != nil {
		return err
	}
	defer space.Close()

	follower, err := ledger.NewFollower(ledger.FollowerOptions{Log: reg.Log(), Primary: *primary, Witnesses: ws, Quorum: *quorum,
		Interval: *interval, Logger: logger})
	if err != nil {
		return err
	}
	fctx, stopFollow := context.WithCancel(ctx)
	followed := make(chan struct{})
	go func() { defer close(followed); follower.Run(fctx) }()
	defer func() { stopFollow(); <-followed }() // before the registry closes
	// The genesis the primary serves must be the one santong.json names (the operator's key).
	sctx, stopServe := context.WithCancel(ctx)
	defer stopServe()
	rootErr := make(chan error, 1)
	if reg.Log().Size() == 0 {
		go func() {
			for reg.Log().Size() == 0 {
				select {
				case <-fctx.Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
			if err := checkRoot(dir, reg.Log(), cfg); err != nil {
				logger.Error("replica: the primary's genesis is not the one santong.json names: stopping", "err", err)
				rootErr <- err
				stopServe()
			}
		}()
	}

	var trusted []string
	for _, p := range strings.Split(*proxies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			trusted = append(trusted, p)
		}
	}
	adapter := verify.NewCertRegistry(reg)
	defer adapter.Close()
	adapter.WarmSearch()
	adapter.WarmStats()
	deps := adapter.Deps()
	deps.Logger, deps.Scans, deps.Space = logger, scans, space
	deps.Events = verify.ReplicaWrites{Primary: strings.TrimSuffix(*primary, "/")}
	deps.Attachments = verify.ReplicaAttachments{Primary: strings.TrimSuffix(*primary, "/")}
	storeReady, replicaReady := deps.Ready, verify.ReplicaReady(follower, *maxLag, nil)
	deps.Ready = func(ctx context.Context) error {
		if err := storeReady(ctx); err != nil {
			return err
		}
		return replicaReady(ctx)
	}
	deps.Collectors = append(deps.Collectors, verify.ReplicaCollector(follower, nil))
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
		Operator:        operatorName(*operator),
	}, deps)
	fmt.Fprintf(c.stdout, "santong: replica of %s: resuming from %d records (origin %s)\n", *primary, reg.Log().Checkpoint().Size, cfg.Origin)
	fmt.Fprintf(c.stdout, "santong: serving %s (origin %s) on %s\n", dir, cfg.Origin, base)
	logger.Info("serving a replica", "addr", ln.Addr().String(), "data", dir, "primary", *primary, "origin", cfg.Origin,
		"size", reg.Log().Checkpoint().Size, "witnesses", len(ws), "quorum", *quorum)
	if err := srv.Run(sctx, ln); err != nil {
		return err
	}
	select {
	case err := <-rootErr:
		return err
	default:
	}
	logger.Info("stopped")
	return nil
}
