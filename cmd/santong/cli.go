package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"time"
)

// cli is the program's view of its process, so that tests run it in-process.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	tty            bool // stderr is a terminal: progress bars and prompts

	checkpointEvery time.Duration // the log's checkpoint interval (0: the ledger's default)
	checkpointLock  string        // serve --checkpoint-lock (else $SANTONG_CHECKPOINT_LOCK, else santong.json)
	ledgerMemory    ledgerMemory  // Badger's memory for the log (zero: the ledger's defaults)
	store           string        // --store: the log in this PostgreSQL database instead of DIR/db (store.go)
	lease           *writerLease  // serve's writer lease on that store (storeserve.go)
	storeIdle       time.Duration // the store's idle_in_transaction_session_timeout (0: pgkv's default; serve: the lease's TTL)
	ledgerLog       *slog.Logger  // the log's logger (serve: the service's; nil: discarded)
}

// command is one subcommand: its words ("cert grant"), what it does, and its function.
type command struct {
	name  string
	usage string // arguments, after the name
	help  string
	run   func(ctx context.Context, c *cli, args []string) error
}

// commands is every subcommand, in the order the help lists them.
var commands = []command{
	{"init", "[--data DIR] [--origin NAME]", "create a data directory with the log key and the operator key", cmdInit},
	{"serve", "[--data DIR] [--addr ADDR] [--demo]", "run the verification service", cmdServe},
	{"demo", "[--data DIR]", "load a demo dataset of fictitious enterprises and write sample labels", cmdDemo},

	{"key new", "--out FILE [--name NAME]", "create an encrypted Ed25519 key file", cmdKeyNew},
	{"key show", "FILE", "print a key file's public key and key id", cmdKeyShow},
	{"key enrol", "--key OPERATOR.key --pub FILE|KEY --role certifier|regulator|enterprise|label [--certifier ID | --regulator ID | --enterprise ID|CREDITCODE] [--valid-until DATE] [--name NAME] [TARGET]", "enrol a certifier, regulator, enterprise or label key (operator)", cmdKeyEnrol},
	{"key revoke", "--key OPERATOR.key --id KEYID|FILE [--from now|TIME|DATE] --reason TEXT [TARGET]", "revoke a key from a given time (operator)", cmdKeyRevoke},

	{"certifier register", "--key OPERATOR.key --name NAME --schemes santong[,eco_origin] [--uscc CODE] [--accreditation TEXT] [--accredited-until DATE] [TARGET]", "register a certification body for named schemes (operator)", cmdCertifierRegister},
	{"regulator register", "--key OPERATOR.key --name NAME --kind market_regulation|customs [--uscc CODE] [TARGET]", "register a regulator: 市场监管 or 海关 (operator)", cmdRegulatorRegister},
	{"import", "--from FILE.csv|FILE.xlsx --key OPERATOR.key [--certifier-key CERTIFIER.key] [--dry-run] [--data DIR | --server URL]", "import enterprises, products and certificates with their history, every row validated first (onboarding)", cmdImport}, // import*.go
	{"enterprise register", "--key OPERATOR.key --name NAME --uscc CODE --export-filing NO --address ADDR [--phone TEL] [--email ADDR] [--website URL] [TARGET]", "register an enterprise", cmdEnterpriseRegister},
	{"standards compare", "--key CERTIFIER.key --export STD --domestic STD --document FILE [TARGET]", "record that an export and a domestic standard are equivalent (标准比对, certifier)", cmdStandardsCompare},
	{"enterprise declare", "--key KEY [--enterprise ID|CREDITCODE] --document FILE --products IDS|GTINS --standards STDS [TARGET]", "record a self-declaration of conformity (自我声明)", cmdEnterpriseDeclare},
	{"product register", "--key KEY [--enterprise ID|CREDITCODE] --name NAME --category food|agricultural|consumer_goods|industrial [--gtin GTIN] --export-standard S --domestic-standard S --line L [--image FILE] [TARGET]", "register a product", cmdProductRegister},
	{"product image", "--key KEY --product ID|GTIN --file FILE [TARGET]", "upload the image a product was registered with (PNG, JPEG or WebP, at most 200 KiB)", cmdProductImage}, // image.go
	{"audit record", "--key KEY --enterprise ID|CREDITCODE [--scheme santong|eco_origin] [--products IDS] --auditors NAMES --result pass|fail|conditional [--date D] [--finding F] [--report FILE] [TARGET]", "record an expert audit (certifier); findings are confidential", cmdAuditRecord},
	{"cert grant", "--key KEY --audit ID --number NO [--valid-from DATE] --valid-until DATE [--supersedes CERT] [TARGET]", "grant a certification, or renew one (certifier)", cmdCertGrant},
	{"cert suspend", "--key KEY --cert ID|NUMBER --reason TEXT --rectify-by DATE [--legal-basis TEXT] [TARGET]", "suspend a certification (its certifier; the operator or a regulator with --legal-basis)", cmdCertSuspend},
	{"cert reinstate", "--key KEY --cert ID|NUMBER --inspection ID [TARGET]", "reinstate a suspended certification (certifier)", cmdCertReinstate},
	{"cert revoke", "--key KEY --cert ID|NUMBER --reason TEXT [--legal-basis TEXT] [TARGET]", "revoke a certification (its certifier; the operator or a regulator with --legal-basis)", cmdCertRevoke},
	{"inspect", "--key KEY --cert ID|NUMBER --kind routine|random|complaint|reinspection --result pass|fail [--draw INDEX [--draw-target N --draw-salt S]] [--inspector NAME]... [--finding F] [TARGET]", "record a follow-up or random inspection (certifier)", cmdInspect},
	{"complaint receive", "--key KEY --enterprise ID|CREDITCODE --channel C [--summary PUBLIC] [--details TEXT] [--contact TEXT] [TARGET]", "record a complaint (certifier); details and contact are confidential", cmdComplaintReceive},
	{"complaints", "--key CERTIFIER.key [--open] [--public] [--json] [--data DIR | --server URL]", "list the complaints in a certification body's queue (a regulator's key: all), with what the consumer wrote and their contact (confidential: read with the same key)", cmdComplaints}, // complaints.go
	{"complaint close", "--key KEY --complaint ID --outcome TEXT [TARGET]", "close a complaint (certifier)", cmdComplaintClose},
	{"attachment get", "--key KEY --server URL SHA256 [--out FILE]", "read a confidential attachment (the roles allowed to)", cmdAttachmentGet},
	{"attachment check", "FILE SHA256", "check a revealed attachment against the commitment its record names", cmdAttachmentCheck},
	{"draw", "--key KEY --scheme santong|eco_origin --count N --inspectors NAMES --per-target N [--data DIR] (with --server, --period or --state: draw request)", "make and record a 双随机 random inspection draw", cmdDraw},
	{"draw request", "--key KEY --scheme S --count N --inspectors NAMES --per-target N --period P --due DATE --state FILE (--co-drawer KEY... [--reveal-by DATE] | --alone) [--delay-records N] [--delay-seconds S] [--weight-* N] [--no-wait] [TARGET]", "request a commit-then-reveal draw, then record its result once its randomness exists (operator, regulator)", cmdDrawRequest}, // drawplan.go
	{"draw commit", "--key KEY --state FILE [--timeout D] [TARGET]", "record a requested draw's result once its seed tree exists", cmdDrawCommit},
	{"draw targets", "--state FILE [--json]", "print a draw's targets, inspectors and salts (the drawer's state file: keep it secret)", cmdDrawTargets},
	{"draw reveal", "--key KEY --state FILE [TARGET]", "publish a draw's secret: everyone can then re-derive its targets", cmdDrawReveal},
	{"draw contribute", "--key CO-DRAWER.key --draw INDEX --state FILE [TARGET]", "a co-drawer commits to a fresh secret of its own for a draw that names it (drawcontribute.go)", cmdDrawContribute},
	{"draw reveal-contribution", "--key CO-DRAWER.key --state FILE [--timeout D] [TARGET]", "a co-drawer publishes its secret once the draw's seed tree exists", cmdDrawRevealContribution},
	{"audit draws", "[--data DIR | --server URL --log-key KEY] [--json]", "replay the whole log and verify every commit-then-reveal draw: skipped targets too", cmdAuditDraws},
	{"batch recall", "--key KEY --batch ID|INDEX --kind return|recall --reason TEXT [TARGET]", "recall a label batch", cmdBatchRecall},
	{"batch void", "--key KEY --batch ID|INDEX [--units FIRST-LAST] --reason not_printed|damaged_in_printing|misprinted|lost_before_use [--note TEXT] [TARGET]", "void label units never sold (not a recall)", cmdBatchVoid},

	{"label reprint", "--batch ID|INDEX --out DIR --format png|svg|pdf|csv[,json,svg-sheet] --label-key LABEL.key [--units FIRST-LAST] [--prefix P] [--allow-insecure-prefix] [--digital-link] [--data DIR]", "write a recorded batch's labels again (the same codes), refusing voided units", cmdLabelReprint},
	{"label issue", "--product ID|GTIN --lot LOT --count N --out DIR --format png|label-png|svg|pdf|csv[,json,svg-sheet] --key ENTERPRISE.key --label-key LABEL.key [--production-date D] [--prefix P] [--allow-insecure-prefix] [--digital-link] [TARGET]", "issue a batch of signed labels", cmdLabelIssue},
	{"application file", "--key KEY --certifier ID --scheme santong|eco_origin [--product ID|GTIN]... --contact-name N --contact-phone P [--document FILE]... [TARGET]", "apply to a certification body (enterprise)", cmdApplicationFile},
	{"application accept", "--key KEY --application ID --number N [TARGET]", "accept an application for review: 受理 (certifier)", cmdApplicationAccept},
	{"application reject", "--key KEY --application ID --reason R... [TARGET]", "reject an application, with reasons (certifier)", cmdApplicationReject},
	{"application advance", "--key KEY --application ID --step preliminary_review|recommendation [TARGET]", "record an intake step: 初评, 推荐上报 (certifier)", cmdApplicationAdvance},
	{"application decide", "--key KEY --application ID --audit ID --outcome granted|refused [--cert ID] [--reason R]... [TARGET]", "decide an application (certifier)", cmdApplicationDecide},
	{"application withdraw", "--key KEY --application ID --reason R [TARGET]", "withdraw an application (enterprise)", cmdApplicationWithdraw},
	{"application show", "--key KEY --application ID [TARGET]", "show an application and its details (applicant or certifier)", cmdApplicationShow},
	{"console", "--key FILE --server URL [--label-key FILE] [--addr 127.0.0.1:8090] [--out DIR]", "serve the working console for your key on this machine", cmdConsole},
	{"verify", "TOKEN|URL|IMAGE [--server URL | --bundle FILE] [--json]", "verify a label code", cmdVerify},
	{"audit replay", "--enterprise ID|CREDITCODE [--data DIR | --server URL | --bundle FILE] [--json]", "replay and verify an enterprise's chain", cmdAuditReplay},
	{"audit export", "--enterprise ID|CREDITCODE --out FILE", "write a self-contained audit bundle", cmdAuditExport},

	{"log checkpoint", "[--data DIR | --server URL]", "sign (local) or fetch the latest checkpoint", cmdLogCheckpoint},
	{"log verify", "[--data DIR]", "replay the whole log and verify it, the state projection too", cmdLogVerify},
	{"log rebuild", "[--data DIR]", "rebuild the state projection from the log (service stopped)", cmdLogRebuild},
	{"dev generate", "--data DIR [--enterprises N] [--products N] [--certificates N] [--batches N]", "fill a fresh data directory with a generated registry, for measurements", cmdDevGenerate},
	{"backup", "--data DIR --out FILE", "write a consistent backup of a stopped data directory's database", cmdBackup},
	{"restore", "--in FILE --data NEWDIR [--keys-from DIR]", "restore a backup into a new, empty data directory", cmdRestore},
	{"migrate", "--data DIR --to postgres://…", "copy a data directory's log into an empty PostgreSQL store, verified (migrate.go)", cmdMigrate},
	{"export-tiles", "--out DIR [--data DIR | --server URL --log-key VKEY]", "write or update the log's tiles, entry bundles and checkpoint as static files for a web server or CDN", cmdExportTiles},
	{"deadlines", "[--within 30d] [--enterprise ID] [--json] [--data DIR | --server URL]", "list deadlines: rectify-by days, certificates' ends, follow-up inspections due (overdue first)", cmdDeadlines},
	{"report annual", "[--year Y] [--out DIR] [--data DIR | --server URL]", "write the annual summary (受理, 评定, 监管, 整改, 退出 per scheme) as CSV and XLSX", cmdReportAnnual},
	{"report events", "--from DATE --to DATE [--out FILE] [--data DIR | --server URL]", "write a period's events as CSV, each with its leaf hash (regulators)", cmdReportEvents},
	{"report registry", "[--out FILE] [--data DIR | --server URL]", "write every certificate with its status now as CSV", cmdReportRegistry},
	{"webhook add", "--url URL [--data DIR] [--kinds K,...] [--schemes S,...] [--enterprises ID,...] [--from start|now|INDEX] [--secret-file FILE]", "register a webhook subscriber for the change feed (operator; a running service picks it up)", cmdWebhookAdd},
	{"webhook list", "[--data DIR]", "list webhook subscribers and their delivery state", cmdWebhookList},
	{"webhook remove", "[--data DIR] ID", "remove a webhook subscriber", cmdWebhookRemove},
	{"log prove", "--index N [--size N] [--data DIR | --server URL]", "print an inclusion proof", cmdLogProve},
}

// Errors that choose the exit code.
type (
	// usageError: bad flags or arguments (exit 2), printed with the command's usage.
	usageError struct{ msg string }
	// failedError: a verification or verdict that is not a clean pass (exit 1); the command
	// has already printed its report.
	failedError struct{ msg string }
	// hintError carries a hint line for the user.
	hintError struct {
		err  error
		hint string
	}
)

func (e *usageError) Error() string  { return e.msg }
func (e *failedError) Error() string { return e.msg }
func (e *hintError) Error() string   { return e.err.Error() }
func (e *hintError) Unwrap() error   { return e.err }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// withHint adds a hint to err.
func withHint(err error, format string, a ...any) error {
	return &hintError{err: err, hint: fmt.Sprintf(format, a...)}
}

// run runs one command line and returns the exit code.
func run(ctx context.Context, args []string, c *cli) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(c.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, rest := findCommand(args)
	if cmd == nil {
		fmt.Fprintf(c.stderr, "santong: error: unknown command %q\n", strings.Join(args[:min(len(args), 2)], " "))
		fmt.Fprintf(c.stderr, "santong: hint: run 'santong help' for the list of commands\n")
		return 2
	}
	err := cmd.run(ctx, c, rest)
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var fe *failedError
	if errors.As(err, &fe) {
		if fe.msg != "" {
			fmt.Fprintf(c.stderr, "santong: %s\n", fe.msg)
		}
		return 1
	}
	fmt.Fprintf(c.stderr, "santong: error: %s\n", userMessage(err))
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(c.stderr, "santong: hint: usage: santong %s %s\n", cmd.name, cmd.usage)
	}
	var he *hintError
	if errors.As(err, &he) {
		fmt.Fprintf(c.stderr, "santong: hint: %s\n", he.hint)
	}
	return 2
}

// userMessage is err's message in plain words: a failed file operation as "PATH: REASON" (with
// the reason even when a fault hides the underlying error), a request that reached no server as
// "cannot reach URL: REASON", an interruption as "interrupted", without Go's wording around them
// ("open x: ...", `Get "http://...": dial tcp ...`).
func userMessage(err error) string {
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) && strings.Contains(msg, ue.Error()) {
		why := "no answer in time"
		if !ue.Timeout() {
			e := ue.Err
			for errors.Unwrap(e) != nil {
				e = errors.Unwrap(e)
			}
			why = e.Error()
		}
		where := ue.URL
		if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
			where = u.Scheme + "://" + u.Host
		}
		msg = strings.Replace(msg, ue.Error(), "cannot reach "+where+": "+why, 1)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if strings.Contains(msg, pe.Error()) {
			msg = strings.Replace(msg, pe.Error(), pe.Path+": "+pe.Err.Error(), 1)
		} else if !strings.Contains(msg, pe.Err.Error()) {
			msg += ": " + pe.Err.Error()
		}
	}
	if errors.Is(err, context.Canceled) {
		msg = strings.Replace(msg, context.Canceled.Error(), "interrupted", 1)
	}
	return msg
}

func findCommand(args []string) (*command, []string) {
	if len(args) >= 2 {
		for i := range commands {
			if commands[i].name == args[0]+" "+args[1] {
				return &commands[i], args[2:]
			}
		}
	}
	for i := range commands {
		if commands[i].name == args[0] {
			return &commands[i], args[1:]
		}
	}
	return nil, nil
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "usage: santong COMMAND [flags]")
	fmt.Fprintln(w)
	width := 0
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	for _, c := range commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.help)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "TARGET is --data DIR (default $SANTONG_DATA or ./santong-data) or --server URL; commands that")
	fmt.Fprintln(w, "sign take --key FILE, and every command that reports takes --json.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'santong COMMAND -h' for a command's flags. Exit codes: 0 success; 1 a verification")
	fmt.Fprintln(w, "that fails or a verdict that is not genuine and certified; 2 usage or input errors.")
}

// flags returns a flag set for a command that reports errors as usage errors.
func (c *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("santong "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	return fs
}

// parse parses args, turning flag errors into usage errors and refusing stray arguments
// unless positional is true.
func parse(fs *flag.FlagSet, args []string, positional bool) error {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage of %s:\n", fs.Name())
		fs.PrintDefaults()
	}
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return flag.ErrHelp
	}
	if err != nil {
		return &usageError{err.Error()}
	}
	if !positional && fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// printJSON writes v as indented JSON to stdout.
func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// env returns an environment variable, or def when it is empty.
func (c *cli) env(name, def string) string {
	if v := c.getenv(name); v != "" {
		return v
	}
	return def
}
