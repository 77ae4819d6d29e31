package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/keyfile"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
)

// cmdImport is the onboarding import (issue 16 item 2): enterprises, their products and their
// certificates with their history, from a CSV or XLSX file, into a data directory. Every row is
// validated before anything is written; refused rows are reported with their row, column and
// reason, and then nothing is written. Every record gets a deterministic id and is looked up in
// the registry first, so a second run, or one after the first was killed, records only what is
// missing: every row is recorded exactly once.
func cmdImport(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("import")
	from := fs.String("from", "", "the file to import: .csv (UTF-8) or .xlsx (docs/operations.md, Onboarding import)")
	key := fs.String("key", "", "the operator's key file: signs enterprises and products")
	certKey := fs.String("certifier-key", "", "the certification body's key file: signs audits, grants, suspensions and revocations (needed when the file has certificates)")
	data := fs.String("data", "", "the data directory to write to (default $SANTONG_DATA or ./"+defaultData+")")
	server := fs.String("server", "", "import through a running service instead of into a data directory, e.g. https://santong.example.cn")
	dry := fs.Bool("dry-run", false, "validate every row and report, write nothing")
	workers := fs.Int("workers", 32, "concurrent submitters")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *from == "" {
		return usagef("--from is required: the CSV or XLSX file to import")
	}
	if *key == "" {
		return usagef("--key is required: the operator's key file")
	}
	if *workers < 1 || *workers > 1024 {
		return usagef("--workers must be between 1 and 1024")
	}
	sections, err := readImport(*from)
	if err != nil {
		return err
	}
	if len(sections["certificates"]) > 0 && *certKey == "" {
		return usagef("--certifier-key is required: the file has certificates, which their certification body signs")
	}
	now := time.Now()
	rules := importRules{now: now, auditWindow: importAuditWindow}
	var (
		st      importState
		reg     *cert.Registry
		opPub   ed25519.PublicKey
		certPub ed25519.PublicKey
	)
	if *server != "" {
		// Through a running service: its public look-ups, then its write API (importremote.go).
		if *data != "" {
			return usagef("--data and --server are exclusive: import into one or the other")
		}
		if err := checkServerURL(*server); err != nil {
			return err
		}
		rs := &remoteImportState{ctx: ctx, base: strings.TrimSuffix(*server, "/")}
		if rules.genesis, err = rs.genesis(); err != nil {
			return withHint(fmt.Errorf("--server: %w", err), "is the service at %s running?", *server)
		}
		st = rs
		if opPub, err = keyFilePub(*key, "--key"); err != nil {
			return err
		}
		if *certKey != "" {
			if certPub, err = keyFilePub(*certKey, "--certifier-key"); err != nil {
				return err
			}
		}
	} else {
		if reg, _, err = c.openRegistry(dataDir(c, *data)); err != nil {
			return err
		}
		defer reg.Close()
		st = reg
		root, err := reg.RootKey()
		if err != nil {
			return fmt.Errorf("the registry's genesis: %w", err)
		}
		rules.genesis = root.Enrolled
		if opPub, err = enrolledPub(reg, *key, event.RoleOperator, "--key", now); err != nil {
			return err
		}
		if *certKey != "" {
			if certPub, err = enrolledPub(reg, *certKey, event.RoleCertifier, "--certifier-key", now); err != nil {
				return err
			}
			k, _ := reg.Key(event.KeyIDOf(certPub))
			cf, err := reg.Certifier(k.Owner)
			if err != nil {
				return fmt.Errorf("--certifier-key: its certification body: %w", err)
			}
			rules.schemes, rules.certifier = cf.Schemes, cf.ID
			if rules.schemes == nil {
				rules.schemes = []string{}
			}
		}
	}
	plan, err := checkImport(sections, st, rules)
	if err != nil {
		return err
	}
	if len(plan.refused) > 0 {
		for _, r := range plan.refused {
			fmt.Fprintf(c.stdout, "refused %s\n", r)
		}
		return &failedError{fmt.Sprintf("error: %d rows refused: nothing was written; correct the file and run again", len(plan.refused))}
	}
	steps := plan.steps()
	fmt.Fprintf(c.stdout, "checked %d enterprises, %d products, %d certificates: %d records to write, %d already recorded\n",
		len(plan.enterprises), len(plan.products), len(plan.certs), len(steps), plan.recorded())
	if *dry {
		fmt.Fprintln(c.stdout, "dry run: nothing written")
		return nil
	}
	if len(steps) == 0 {
		return nil
	}
	op, err := c.readKey(*key)
	if err != nil {
		return err
	}
	if !op.Public().(ed25519.PublicKey).Equal(opPub) {
		return fmt.Errorf("--key: the key changed while it was read")
	}
	var ck ed25519.PrivateKey
	if *certKey != "" {
		if ck, err = c.readKey(*certKey); err != nil {
			return err
		}
	}
	var tgt target
	if *server != "" {
		tgt, err = c.openTarget("", *server)
	} else {
		tgt, err = c.openTargetOn(reg, dataDir(c, *data))
	}
	if err != nil {
		return err
	}
	if ck != nil && !ck.Public().(ed25519.PublicKey).Equal(certPub) {
		return fmt.Errorf("--certifier-key: the key changed while it was read")
	}
	start := time.Now()
	n, err := runImport(ctx, tgt, steps, map[event.Role]ed25519.PrivateKey{event.RoleOperator: op, event.RoleCertifier: ck}, *workers, c.progress("import"))
	if err != nil {
		return withHint(err, "%d records were written before it stopped; correct what is refused and run the same import again: it records only what is missing", n)
	}
	fmt.Fprintf(c.stdout, "recorded %d records in %.1f s\n", n, time.Since(start).Seconds())
	return nil
}

// openTargetOn is the local target for an already open registry.
func (c *cli) openTargetOn(reg *cert.Registry, dir string) (target, error) {
	return &localTarget{Registry: reg, c: c, dir: dir}, nil
}

// enrolledPub reads a key file's public key (no passphrase needed) and checks that it is
// enrolled with the role and valid now.
func enrolledPub(reg *cert.Registry, path string, role event.Role, flagName string, now time.Time) (ed25519.PublicKey, error) {
	pub, err := keyFilePub(path, flagName)
	if err != nil {
		return nil, err
	}
	id := event.KeyIDOf(pub)
	k, err := reg.Key(id)
	if err != nil {
		if fault.CodeOf(err) == fault.NotFound {
			return nil, withHint(usagef("%s: key %s is not enrolled on this log", flagName, id), "the operator enrols it with 'santong key enrol'")
		}
		return nil, err
	}
	if k.Role != role {
		return nil, usagef("%s: key %s has role %s, not %s", flagName, id, k.Role, role)
	}
	if !k.ValidAt(now) || k.Expired(now) {
		return nil, usagef("%s: key %s is revoked or expired", flagName, id)
	}
	return pub, nil
}

// keyFilePub reads a key file's public key (no passphrase needed).
func keyFilePub(path, flagName string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, usagef("%s: %s does not exist", flagName, path)
		}
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	pub, _, err := keyfile.PublicOf(b)
	if err != nil {
		return nil, usagef("%s: %s is not a key file: %s", flagName, path, fault.MessageOf(err))
	}
	return pub, nil
}

// checkServerURL refuses a --server that is not an http:// or https:// URL.
func checkServerURL(s string) error {
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		return usagef("--server %q: give an http:// or https:// URL", s)
	}
	return nil
}

// importStep is one event to record: who signs, on which chain, of which subject.
type importStep struct {
	phase         int // steps of a phase depend only on earlier phases
	role          event.Role
	chain, subjct uuid.UUID
	body          event.Body
	row           *importRow
}

// steps lists what is not yet recorded, in phases: enterprises, products, audits, grants,
// status changes.
func (p *importPlan) steps() []importStep {
	var out []importStep
	for _, e := range p.enterprises {
		if !e.exists {
			out = append(out, importStep{0, event.RoleOperator, e.id, e.id, e.body, e.row})
		}
	}
	for _, x := range p.products {
		if !x.exists {
			out = append(out, importStep{1, event.RoleOperator, x.ent, x.id, x.body, x.row})
		}
	}
	for _, x := range p.certs {
		if !x.auditDone {
			out = append(out, importStep{2, event.RoleCertifier, x.ent, x.auditID, x.audit, x.row})
		}
	}
	for _, x := range p.certs {
		if !x.grantDone {
			out = append(out, importStep{3, event.RoleCertifier, x.ent, x.certID, x.grant, x.row})
		}
	}
	for _, x := range p.certs {
		if x.status != nil && !x.statusDone {
			out = append(out, importStep{4, event.RoleCertifier, x.ent, x.certID, x.status, x.row})
		}
	}
	return out
}

// recorded counts the records the plan found already recorded.
func (p *importPlan) recorded() int {
	n := 0
	for _, e := range p.enterprises {
		n += b2i(e.exists)
	}
	for _, x := range p.products {
		n += b2i(x.exists)
	}
	for _, x := range p.certs {
		n += b2i(x.auditDone) + b2i(x.grantDone) + b2i(x.status != nil && x.statusDone)
	}
	return n
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// runImport signs and submits the steps, phase by phase, with workers submitting concurrently
// within a phase (the log commits them in groups). It stops at the first refusal and returns
// how many records were written.
func runImport(ctx context.Context, tgt target, steps []importStep, keys map[event.Role]ed25519.PrivateKey, workers int, progress func(done, total uint64)) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var done atomic.Uint64
	total := uint64(len(steps))
	var (
		mu       sync.Mutex
		firstErr error
		progMu   sync.Mutex
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	for i := 0; i < len(steps); {
		j := i
		for j < len(steps) && steps[j].phase == steps[i].phase {
			j++
		}
		phase := steps[i:j]
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < min(workers, len(phase)); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					k := int(next.Add(1)) - 1
					if k >= len(phase) {
						return
					}
					st := &phase[k]
					if err := submitStep(ctx, tgt, st, keys[st.role]); err != nil {
						fail(err)
						return
					}
					n := done.Add(1)
					progMu.Lock()
					progress(n, total)
					if importStepDone != nil {
						importStepDone(n)
					}
					progMu.Unlock()
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return int(done.Load()), firstErr
		}
		if err := ctx.Err(); err != nil {
			return int(done.Load()), err
		}
		i = j
	}
	return int(done.Load()), nil
}

// importStepDone, when set (by tests only), is called after each record is written.
var importStepDone func(n uint64)

// submitStep records one step. A record that is already there (the same deterministic id) counts
// as recorded: it is what this row made before.
func submitStep(ctx context.Context, tgt target, st *importStep, priv ed25519.PrivateKey) error {
	b, err := event.New(st.chain, st.subjct, st.body).Sign(priv)
	if err != nil {
		return fmt.Errorf("[%s] row %d: sign %s: %w", st.row.section, st.row.row, st.body.EventType(), err)
	}
	_, err = tgt.Submit(ctx, b)
	if err == nil || (errors.Is(err, cert.ErrExists) && st.phase != 4) {
		return nil
	}
	if fault.CodeOf(err) == fault.Internal || errors.Is(err, context.Canceled) {
		return fmt.Errorf("[%s] row %d: submit %s: %w", st.row.section, st.row.row, st.body.EventType(), err)
	}
	return fmt.Errorf("[%s] row %d: %s refused (%s): %s", st.row.section, st.row.row, st.body.EventType(), fault.CodeOf(err), fault.MessageOf(err))
}

// importAuditWindow is the ledger's audit window as the CLI opens it (cert.Config{}: its default,
// 180 days): a grant rests on a passing audit at most this old.
const importAuditWindow = 180 * 24 * time.Hour
