package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/santong-cn/santong/internal/fault"
)

// cli is the program's view of its process, so that tests run it in-process.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	tty            bool // stderr is a terminal: progress bars and prompts
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
	{"key enrol", "--key OPERATOR.key --pub FILE|KEY --role ROLE [--enterprise ID] [--name NAME]", "enrol a certifier, enterprise or label key (operator)", cmdKeyEnrol},
	{"key revoke", "--key OPERATOR.key --id KEYID [--from TIME] --reason TEXT", "revoke a key from a given time (operator)", cmdKeyRevoke},

	{"certifier register", "--key OPERATOR.key --name NAME [--uscc CODE]", "register a certification body (operator)", cmdCertifierRegister},
	{"enterprise register", "--key KEY --name NAME --uscc CODE --export-filing NO --address ADDR", "register an enterprise", cmdEnterpriseRegister},
	{"enterprise declare", "--key KEY --enterprise ID --document FILE --products IDS --standards STDS", "record a self-declaration of conformity (自我声明)", cmdEnterpriseDeclare},
	{"product register", "--key KEY --enterprise ID --name NAME --category CAT [--gtin GTIN] ...", "register a product", cmdProductRegister},
	{"audit record", "--key KEY --enterprise ID --scheme S --scope S --result R ...", "record an expert audit (certifier)", cmdAuditRecord},
	{"cert grant", "--key KEY --audit ID --number NO --valid-from DATE --valid-until DATE", "grant a certification (certifier)", cmdCertGrant},
	{"cert suspend", "--key KEY --cert ID --reason TEXT --rectify-by DATE", "suspend a certification (certifier)", cmdCertSuspend},
	{"cert reinstate", "--key KEY --cert ID --inspection ID", "reinstate a suspended certification (certifier)", cmdCertReinstate},
	{"cert revoke", "--key KEY --cert ID --reason TEXT", "revoke a certification (certifier)", cmdCertRevoke},
	{"inspect", "--key KEY --cert ID --kind K --result R ...", "record a follow-up or random inspection (certifier)", cmdInspect},
	{"complaint receive", "--key KEY --enterprise ID --channel C --summary TEXT", "record a complaint (certifier)", cmdComplaintReceive},
	{"complaint close", "--key KEY --complaint ID --outcome TEXT", "close a complaint (certifier)", cmdComplaintClose},
	{"draw", "--key KEY --scheme S --count N --inspectors IDS --per-target N", "make and record a 双随机 random inspection draw", cmdDraw},
	{"batch recall", "--key KEY --batch ID --kind return|recall --reason TEXT", "recall a label batch", cmdBatchRecall},

	{"label issue", "--product ID --lot LOT --count N --out DIR --format png|svg|pdf|csv", "issue a batch of signed labels", cmdLabelIssue},
	{"verify", "TOKEN|URL|IMAGE [--server URL | --bundle FILE] [--json]", "verify a label code", cmdVerify},
	{"audit replay", "--enterprise ID|CREDITCODE [--data DIR | --server URL | --bundle FILE] [--json]", "replay and verify an enterprise's chain", cmdAuditReplay},
	{"audit export", "--enterprise ID|CREDITCODE --out FILE", "write a self-contained audit bundle", cmdAuditExport},

	{"log checkpoint", "[--data DIR | --server URL]", "sign (local) or fetch the latest checkpoint", cmdLogCheckpoint},
	{"log verify", "[--data DIR]", "replay the whole log and verify it", cmdLogVerify},
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
	fmt.Fprintf(c.stderr, "santong: error: %s\n", message(err))
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

// message is what the user sees of an error: coded errors as they are, others with their text
// (the CLI user is the operator of their own machine: I/O details help them).
func message(err error) string {
	var fe *fault.Error
	if errors.As(err, &fe) && fe.Code != fault.Internal {
		return err.Error()
	}
	return err.Error()
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
	names := make([]string, 0, len(commands))
	width := 0
	for _, c := range commands {
		names = append(names, c.name)
		width = max(width, len(c.name))
	}
	_ = sort.Strings
	for _, c := range commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.help)
	}
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
