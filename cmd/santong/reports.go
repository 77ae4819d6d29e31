package main

import (
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
)

// Consumers' reports (verify/report.go): 'serve --report-key FILE' names an enrolled operator
// key that signs the complaints made from reports; the queue is DATA/reports. Without the flag
// the pages offer the 12315 hotline only; with --demo the data directory's operator key serves.

const reportsDir = "reports"

type reportFlags struct {
	key             *string
	retry, interval *time.Duration
}

func addReportFlags(fs *flag.FlagSet, c *cli) reportFlags {
	return reportFlags{
		key:      fs.String("report-key", c.getenv("SANTONG_REPORT_KEY"), "an enrolled operator key file that signs consumers' reports as complaints; the pages then carry the report form ($SANTONG_REPORT_KEY; with --demo, default the data directory's operator key)"),
		retry:    fs.Duration("report-retry", envDuration(c, "SANTONG_REPORT_RETRY", 2*time.Second), "how often reports not yet recorded are retried ($SANTONG_REPORT_RETRY)"),
		interval: fs.Duration("report-interval", envDuration(c, "SANTONG_REPORT_INTERVAL", 0), "record reports in batches this often (and at start) instead of as they come; 0: at once ($SANTONG_REPORT_INTERVAL)"),
	}
}

// openReports opens the report desk, or returns nil when no report key is given.
func (c *cli) openReports(f reportFlags, dir string, demo bool, reg *cert.Registry) (*verify.Reports, error) {
	path := *f.key
	if path == "" && demo {
		path = filepath.Join(dir, "keys", "operator.key")
	}
	if path == "" {
		return nil, nil
	}
	priv, err := c.readKey(path)
	if err != nil {
		return nil, fmt.Errorf("--report-key: %w", err)
	}
	if err := checkReportKey(reg, priv, time.Now()); err != nil {
		return nil, withHint(fmt.Errorf("--report-key %s: %w", path, err), "enrol an operator key for the service ('santong key enrol --role operator'), or leave --report-key out")
	}
	if *f.retry <= 0 {
		return nil, usagef("--report-retry must be positive")
	}
	if *f.interval < 0 {
		return nil, usagef("--report-interval must not be negative")
	}
	return verify.OpenReports(verify.ReportOptions{Dir: filepath.Join(dir, reportsDir), Key: priv, Retry: *f.retry, Interval: *f.interval})
}

var errNotOperatorKey = errors.New("not an enrolled operator key, valid now")

// checkReportKey refuses a key that could not sign complaints: unknown, not the operator's,
// revoked or expired.
func checkReportKey(reg *cert.Registry, priv ed25519.PrivateKey, now time.Time) error {
	k, err := reg.Key(event.KeyIDOf(priv.Public().(ed25519.PublicKey)))
	if fault.CodeOf(err) == fault.NotFound {
		return errNotOperatorKey
	}
	if err != nil {
		return err
	}
	if k.Role != event.RoleOperator || !k.ValidAt(now) || k.Expired(now) {
		return errNotOperatorKey
	}
	return nil
}
