package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/santong-cn/santong/verify"
)

// webhooksDir is where a data directory keeps its webhook subscribers and their cursors
// (verify/webhook.go states the files).
const webhooksDir = "webhooks"

// cmdWebhookAdd registers a webhook subscriber. It edits the data directory's subscribers file,
// which a running service rereads within seconds: no restart.
func cmdWebhookAdd(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("webhook add")
	data := fs.String("data", "", "the data directory (default $SANTONG_DATA or ./"+defaultData+")")
	u := fs.String("url", "", "the receiver's URL (https; plain http only to loopback unless --allow-insecure)")
	secretFile := fs.String("secret-file", "", "a file holding the shared secret (default: a new random secret, printed once)")
	kinds := fs.String("kinds", "", "comma-separated change kinds to deliver (default: all): "+strings.Join(verify.ChangeKinds, ","))
	schemes := fs.String("schemes", "", "comma-separated schemes whose changes to deliver (default: all, enterprise registrations too)")
	enterprises := fs.String("enterprises", "", "comma-separated enterprise ids whose changes to deliver (default: all)")
	from := fs.String("from", "start", "where delivery starts: start (the whole history), now (changes from now on), or a record index")
	insecure := fs.Bool("allow-insecure", false, "allow a plain-http URL to a host other than loopback")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	dir := dataDir(c, *data)
	if _, err := readConfig(dir); err != nil {
		return err
	}
	s := verify.Subscriber{ID: verify.NewSubscriberID(), URL: *u, Kinds: splitList(*kinds), Schemes: splitList(*schemes),
		Enterprises: splitList(*enterprises), Created: time.Now().UTC()}
	switch *from {
	case "start":
		s.From = verify.FromStart
	case "now":
		s.From = verify.FromNow
	default:
		n, err := strconv.ParseInt(*from, 10, 64)
		if err != nil || n < -1 {
			return usagef("--from %q: want start, now or a record index", *from)
		}
		s.From = n
	}
	generated := *secretFile == ""
	if generated {
		s.Secret = verify.NewSecret()
	} else {
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return fmt.Errorf("read the secret: %w", err)
		}
		s.Secret = strings.TrimSpace(string(b))
	}
	if *u == "" {
		return usagef("--url is required: the receiver's URL")
	}
	if err := s.Check(*insecure); err != nil {
		return &usageError{err.Error()}
	}
	wd := filepath.Join(dir, webhooksDir)
	l, err := verify.ReadSubscribers(wd)
	if err != nil {
		return err
	}
	if err := verify.WriteSubscribers(wd, append(l, s)); err != nil {
		return fmt.Errorf("store the subscriber: %w", err)
	}
	fmt.Fprintf(c.stdout, "webhook %s: delivering to %s\n", s.ID, s.URL)
	if generated {
		fmt.Fprintf(c.stdout, "secret: %s\n(shown once: give it to the receiver, which checks each delivery's Santong-Webhook-Signature with it)\n", s.Secret)
	}
	return nil
}

// cmdWebhookList lists the subscribers with their delivery state (no secrets).
func cmdWebhookList(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("webhook list")
	data := fs.String("data", "", "the data directory (default $SANTONG_DATA or ./"+defaultData+")")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	dir := dataDir(c, *data)
	if _, err := readConfig(dir); err != nil {
		return err
	}
	wd := filepath.Join(dir, webhooksDir)
	l, err := verify.ReadSubscribers(wd)
	if err != nil {
		return err
	}
	if len(l) == 0 {
		fmt.Fprintln(c.stdout, "no webhook subscribers (add one with 'santong webhook add --url URL')")
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tURL\tFILTERS\tCURSOR\tDELIVERED\tLAST ERROR")
	for _, s := range l {
		st, ok, err := verify.ReadWebhookState(wd, s.ID)
		cursor := "not started"
		if err != nil {
			cursor = "unreadable: " + err.Error()
		} else if ok {
			cursor = strconv.FormatInt(st.Cursor, 10)
		}
		var f []string
		for _, x := range []struct {
			n string
			v []string
		}{{"kinds", s.Kinds}, {"schemes", s.Schemes}, {"enterprises", s.Enterprises}} {
			if len(x.v) > 0 {
				f = append(f, x.n+"="+strings.Join(x.v, ","))
			}
		}
		if len(f) == 0 {
			f = []string{"all"}
		}
		last := st.LastError
		if last == "" {
			last = "-"
		} else {
			last += " (" + st.LastTry.Format(time.RFC3339) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", s.ID, s.URL, strings.Join(f, " "), cursor, st.Delivered, last)
	}
	return tw.Flush()
}

// cmdWebhookRemove removes a subscriber and its state.
func cmdWebhookRemove(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("webhook remove")
	data := fs.String("data", "", "the data directory (default $SANTONG_DATA or ./"+defaultData+")")
	if err := parse(fs, args, true); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("want one subscriber id (see 'santong webhook list')")
	}
	id := fs.Arg(0)
	dir := dataDir(c, *data)
	if _, err := readConfig(dir); err != nil {
		return err
	}
	wd := filepath.Join(dir, webhooksDir)
	l, err := verify.ReadSubscribers(wd)
	if err != nil {
		return err
	}
	n := len(l)
	for i := range l {
		if l[i].ID == id {
			l = append(l[:i], l[i+1:]...)
			break
		}
	}
	if len(l) == n {
		return withHint(fmt.Errorf("no webhook subscriber %q", id), "run 'santong webhook list --data %s' for the ids", dir)
	}
	if err := verify.WriteSubscribers(wd, l); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(wd, "state", id+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fmt.Fprintf(c.stdout, "webhook %s removed\n", id)
	return nil
}

func splitList(s string) []string {
	var l []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			l = append(l, x)
		}
	}
	return l
}
