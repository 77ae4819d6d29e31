package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
)

var deadlineWords = map[string]string{
	verify.DeadlineRectify:    "整改期限 rectify by",
	verify.DeadlineExpiry:     "证书到期 expiry",
	verify.DeadlineInspection: "监督检查 inspection due",
}

// cmdDeadlines lists the deadlines the projection knows: rectify-by days, certificates'
// ends, follow-up inspections due; overdue ones first.
func cmdDeadlines(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("deadlines")
	data := fs.String("data", "", "the data directory, read-only (default $SANTONG_DATA or ./"+defaultData+"; not while serve runs on it: use --server)")
	server := fs.String("server", "", "a running service's URL, instead of --data")
	within := fs.String("within", "30d", "list the deadlines up to this many days ahead (and every overdue one)")
	ent := fs.String("enterprise", "", "only this enterprise's (its id)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	var res verify.DeadlinesJSON
	if *server != "" {
		q := url.Values{"within": {*within}}
		if *ent != "" {
			q.Set("enterprise", *ent)
		}
		req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(*server, "/")+"/api/v1/deadlines?"+q.Encode(), nil)
		if err != nil {
			return usagef("--server %q: %v", *server, err)
		}
		if err := doJSON(req, &res); err != nil {
			return fmt.Errorf("fetch the deadlines from %s: %w", *server, err)
		}
	} else {
		d, err := parseDaysFlag(*within)
		if err != nil {
			return err
		}
		var eid *uuid.UUID
		if *ent != "" {
			u, err := uuid.Parse(*ent)
			if err != nil {
				return usagef("--enterprise %q: want an enterprise id", *ent)
			}
			eid = &u
		}
		a, size, done, err := c.readAdapter(*data)
		if err != nil {
			return err
		}
		defer done()
		now := time.Now()
		l, err := a.Deadlines(size, now, d, eid)
		if err != nil {
			return err
		}
		res = verify.DeadlinesJSON{AsOf: now.UTC(), Within: *within, Deadlines: l}
	}
	if *asJSON {
		return c.printJSON(res)
	}
	if len(res.Deadlines) == 0 {
		fmt.Fprintf(c.stdout, "no deadlines within %s 期内无到期事项\n", res.Within)
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DUE (CST)\tKIND\tSCHEME\tCERTIFICATE\tENTERPRISE")
	overdue := 0
	for _, d := range res.Deadlines {
		due := d.Due.In(event.CST).Add(-time.Second).Format("2006-01-02") // a day's deadline ends at its midnight
		if d.Overdue {
			due += " 已逾期 OVERDUE"
			overdue++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", due, deadlineWords[d.Kind], d.Scheme, d.Number, d.Name)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%d deadlines, %d overdue\n", len(res.Deadlines), overdue)
	return nil
}

func parseDaysFlag(v string) (time.Duration, error) {
	var n int
	if _, err := fmt.Sscanf(strings.TrimSuffix(v, "d"), "%d", &n); err != nil || n < 0 || n > 3650 || strings.TrimSuffix(v, "d") != fmt.Sprint(n) {
		return 0, usagef("--within %q: want a number of days up to 3650, e.g. 30d", v)
	}
	return time.Duration(n) * 24 * time.Hour, nil
}
