package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/santong-cn/santong/verify"
)

// demoPassphrase encrypts the keys of a data directory that 'serve --demo' creates when
// SANTONG_PASSPHRASE is not set: demo data is fictitious, and the README's one command must run
// without a prompt.
const demoPassphrase = "santong-demo"

// cmdServe runs the verification service on a data directory.
func cmdServe(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("serve")
	data := fs.String("data", "", "the data directory (default $SANTONG_DATA or ./"+defaultData+")")
	addr := fs.String("addr", c.env("SANTONG_ADDR", "127.0.0.1:8080"), "the address to listen on ($SANTONG_ADDR)")
	demo := fs.Bool("demo", false, "on an empty data directory, initialise it and load the demo dataset first")
	publicURL := fs.String("public-url", c.getenv("SANTONG_PUBLIC_URL"), "the service's public base URL, for absolute links ($SANTONG_PUBLIC_URL)")
	proxies := fs.String("trusted-proxies", c.getenv("SANTONG_TRUSTED_PROXIES"), "comma-separated proxy IPs or CIDRs whose X-Forwarded-For is believed ($SANTONG_TRUSTED_PROXIES; none by default)")
	cloneScans := fs.Int("clone-scans", envInt(c, "SANTONG_CLONE_SCANS", 50), "scans of one code after which it is reported as possibly cloned ($SANTONG_CLONE_SCANS)")
	cloneRegions := fs.Int("clone-regions", envInt(c, "SANTONG_CLONE_REGIONS", 3), "distinct regions after which a code is reported as possibly cloned ($SANTONG_CLONE_REGIONS)")
	every := fs.Duration("checkpoint-interval", envDuration(c, "SANTONG_CHECKPOINT_INTERVAL", 250*time.Millisecond), "how soon after appends a new checkpoint is signed ($SANTONG_CHECKPOINT_INTERVAL)")
	rate := fs.Float64("rate-limit", float64(envInt(c, "SANTONG_RATE_LIMIT", 20)), "requests per second allowed to one client IP on public endpoints; negative: none ($SANTONG_RATE_LIMIT)")
	c.addLedgerMemoryFlags(fs)
	if err := parse(fs, args, false); err != nil {
		return err
	}
	dir := dataDir(c, *data)
	if *every <= 0 {
		return usagef("--checkpoint-interval must be positive")
	}
	c.checkpointEvery = *every

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

	fresh := false
	if _, err := os.Stat(filepath.Join(dir, "santong.json")); os.IsNotExist(err) {
		if !*demo {
			return withHint(fmt.Errorf("%s is not a Santong data directory", dir), "create one with 'santong init --data %s', or run 'santong serve --demo'", dir)
		}
		prefix := strings.ToUpper(base) + "/Q/"
		if _, err := initData(ctx, c, dir, "santong.demo/log", "三同 alliance (demo)", prefix); err != nil {
			return err
		}
		fresh = true
	}
	reg, cfg, err := c.openRegistry(dir)
	if err != nil {
		return err
	}
	defer reg.Close()
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

	scanKey, err := os.ReadFile(filepath.Join(dir, "scan.key"))
	if err != nil {
		return fmt.Errorf("read the scan key: %w", err)
	}
	var trusted []string
	for _, p := range strings.Split(*proxies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			trusted = append(trusted, p)
		}
	}
	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	deps := verify.NewCertRegistry(reg).Deps()
	deps.Logger = logger
	srv := verify.New(verify.Config{
		Origin:         *publicURL,
		TrustedProxies: trusted,
		Clone:          verify.CloneRule{MaxScans: int64(*cloneScans), MaxRegions: *cloneRegions},
		ScanKey:        scanKey,
		RateLimit:      *rate,
		Samples:        readSampleIndex(dir),
	}, deps)
	fmt.Fprintf(c.stdout, "santong: serving %s (origin %s) on %s\n", dir, cfg.Origin, base)
	fmt.Fprintf(c.stdout, "open %s/ for the registry; Ctrl-C stops\n", base)
	logger.Info("serving", "addr", ln.Addr().String(), "data", dir, "origin", cfg.Origin)
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
