package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/verify"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Where an audit reads from: a local data directory, a server's JSON API, or a bundle file. Each
// is turned into a cert.Bundle, which is then verified the same way.

type sourceFlags struct {
	data, server, bundle, logKey *string
}

func addSourceFlags(fs *flag.FlagSet, withBundle bool) *sourceFlags {
	f := &sourceFlags{
		data:   fs.String("data", "", "the local data directory (default $SANTONG_DATA or ./"+defaultData+")"),
		server: fs.String("server", "", "read through a server's JSON API instead, e.g. http://127.0.0.1:8080"),
		logKey: fs.String("log-key", "", "the log's verifier key that you trust (default $SANTONG_LOG_KEY; with --data, the data directory's)"),
	}
	if withBundle {
		f.bundle = fs.String("bundle", "", "read an audit bundle file instead (santong audit export)")
	} else {
		f.bundle = new(string)
	}
	return f
}

func (f *sourceFlags) check() error {
	n := 0
	for _, s := range []string{*f.data, *f.server, *f.bundle} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return usagef("--data, --server and --bundle are exclusive: read from one of them")
	}
	return nil
}

// source is an opened audit source.
type source struct {
	bundle  *cert.Bundle
	trusted string // the log key the auditor trusts (given, or pinned by its memory)
	keyFrom string // where the trusted key came from
	prove   proveFunc
	close   func()
}

// logKeyFlag is --log-key, or $SANTONG_LOG_KEY.
func (c *cli) logKeyFlag(f *sourceFlags) string {
	if *f.logKey != "" {
		return *f.logKey
	}
	return c.getenv("SANTONG_LOG_KEY")
}

func parseLogKey(k string) (note.Verifier, error) {
	v, err := note.NewVerifier(k)
	if err != nil {
		return nil, usagef("--log-key is not a signed-note verifier key (origin+hash+key, as 'santong init' prints it)")
	}
	return v, nil
}

// openSource reads the bundle of the enterprise ref from the source the flags name.
func (c *cli) openSource(ctx context.Context, f *sourceFlags, ref string) (*source, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	switch {
	case *f.bundle != "":
		return c.bundleSource(f)
	case *f.server != "":
		return c.serverSource(ctx, f, ref)
	}
	return c.localSource(ctx, f, ref)
}

// readBundleFile reads and parses a bundle file; a missing or malformed file is an input error.
func readBundleFile(path string) (*cert.Bundle, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, err := cert.ParseBundle(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

func (c *cli) bundleSource(f *sourceFlags) (*source, error) {
	b, err := readBundleFile(*f.bundle)
	if err != nil {
		return nil, err
	}
	s := &source{bundle: b, close: func() {}}
	if k := c.logKeyFlag(f); k != "" {
		if _, err := parseLogKey(k); err != nil {
			return nil, err
		}
		s.trusted, s.keyFrom = k, "--log-key"
		return s, nil
	}
	path, ok := pinnedByMemory(b.Origin, b.LogKey)
	if !ok {
		return nil, errNotPinned(b.LogKey)
	}
	s.trusted, s.keyFrom = b.LogKey, "the checkpoint remembered in "+path
	return s, nil
}

func (c *cli) localSource(ctx context.Context, f *sourceFlags, ref string) (*source, error) {
	reg, cfg, err := c.openVerified(ctx, dataDir(c, *f.data), "AUDIT FAILED")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			reg.Close()
		}
	}()
	id, err := localEnterprise(reg, ref)
	if err != nil {
		return nil, err
	}
	log := reg.Log()
	cp := log.Checkpoint()
	if cp == nil || len(cp.Note) == 0 || cp.Size < log.Size() {
		if cp, err = log.SignCheckpoint(ctx); err != nil {
			return nil, fmt.Errorf("sign a checkpoint: %w", err)
		}
	}
	b, err := cert.NewBundle(log, cp, cfg.LogKey, id)
	if err != nil {
		return nil, err
	}
	// The chain index must reach the chain's head: records dropped from the index show here.
	if h, err := log.ChainHead(id); err == nil && h.Index < cp.Size {
		if last := b.Chain[len(b.Chain)-1]; h.Len != int64(len(b.Chain)) || last.Index != h.Index {
			return nil, &failedError{fmt.Sprintf("AUDIT FAILED: record %d: the chain index does not reach the chain's head: records were removed from the index", h.Index)}
		}
	}
	trusted := cfg.LogKey
	keyFrom := "the data directory's santong.json"
	if k := c.logKeyFlag(f); k != "" {
		trusted, keyFrom = k, "--log-key"
	}
	ok = true
	return &source{bundle: b, trusted: trusted, keyFrom: keyFrom, close: func() { reg.Close() },
		prove: func(_ context.Context, from, to int64) (tlog.TreeProof, error) { return log.ConsistencyProof(from, to) }}, nil
}

// openVerified opens the data directory's registry for a verification: a log that refuses to
// open because its tree no longer matches its signed checkpoint (tampering, rollback) is a failed
// verification (exit 1), not an input error.
//
// Such a log is then opened for an audit only and replayed in full, so that the failure names the
// first bad record rather than only saying that one exists.
func (c *cli) openVerified(ctx context.Context, dir, what string) (*cert.Registry, *config, error) {
	reg, cfg, err := c.openRegistryMode(dir, true) // read-only: an audit writes nothing
	if err != nil {
		return nil, nil, err
	}
	oerr := reg.Log().Err()
	if oerr == nil {
		return reg, cfg, nil
	}
	msg := strings.TrimPrefix(oerr.Error(), "ledger: open: ")
	_, rerr := c.replayLog(ctx, reg.Log(), cfg)
	reg.Close()
	var f *ledger.Fault
	if errors.As(rerr, &f) {
		msg = strings.TrimPrefix(f.Error(), "replay: ")
	}
	return nil, nil, &failedError{what + ": " + msg}
}

// localEnterprise resolves an enterprise id or credit code in a local registry.
func localEnterprise(reg *cert.Registry, ref string) (uuid.UUID, error) {
	id, code, err := parseEnterpriseRef(ref)
	if err != nil {
		return uuid.Nil, err
	}
	if code == "" {
		if _, err := reg.Enterprise(id); err != nil {
			return uuid.Nil, enterpriseNotFound(ref, err)
		}
		return id, nil
	}
	e, err := reg.EnterpriseByUSCC(code)
	if err != nil {
		return uuid.Nil, enterpriseNotFound(ref, err)
	}
	return e.ID, nil
}

// parseEnterpriseRef reads --enterprise: a UUID, or an 18-character credit code.
func parseEnterpriseRef(ref string) (uuid.UUID, string, error) {
	if ref == "" {
		return uuid.Nil, "", usagef("--enterprise is required: the enterprise's id or credit code (统一社会信用代码)")
	}
	if id, err := uuid.Parse(ref); err == nil && len(ref) == 36 {
		return id, "", nil
	}
	code := strings.ToUpper(ref)
	if len(code) != 18 {
		return uuid.Nil, "", usagef("--enterprise: neither an enterprise id (UUID) nor an 18-character credit code")
	}
	if err := ids.ValidateUSCC(code); err != nil {
		return uuid.Nil, "", usagef("--enterprise: %s", fault.MessageOf(err))
	}
	return uuid.Nil, code, nil
}

func enterpriseNotFound(ref string, err error) error {
	if fault.CodeOf(err) == fault.NotFound {
		return withHint(errors.New("--enterprise: no such enterprise"), "the registry lists the enterprises (santong serve, then /registry)")
	}
	return err
}

func (c *cli) serverSource(ctx context.Context, f *sourceFlags, ref string) (*source, error) {
	key := c.logKeyFlag(f)
	if key == "" {
		return nil, withHint(usagef("--log-key is required with --server: the log key you trust"), "the operator publishes it; 'santong init' prints it and santong.json holds it")
	}
	v, err := parseLogKey(key)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(*f.server, "/")
	id, code, err := parseEnterpriseRef(ref)
	if err != nil {
		return nil, err
	}
	if code != "" {
		if id, err = serverEnterpriseByCode(ctx, base, code); err != nil {
			return nil, err
		}
	}
	cp, err := fetchCheckpoint(ctx, base, v)
	if err != nil {
		return nil, err
	}
	b := &cert.Bundle{Format: cert.BundleFormat, Origin: cp.Origin, LogKey: key, Checkpoint: string(cp.Note),
		Enterprise: id, Created: time.Now().UTC().Truncate(time.Second)}
	if b.Registry, err = fetchChain(ctx, base, uuid.Nil, cp.Size); err != nil {
		return nil, err
	}
	if b.Chain, err = fetchChain(ctx, base, id, cp.Size); err != nil {
		if fault.CodeOf(err) == fault.NotFound {
			return nil, enterpriseNotFound(ref, err)
		}
		return nil, err
	}
	// Where each chain ends in the checkpoint's tree: a server that leaves out a chain's last
	// records, or serves an old head, fails the bundle's verification (chainend.go).
	if b.RegistryEnd, err = fetchChainEnd(ctx, base, uuid.Nil, cp.Size); err != nil {
		return nil, err
	}
	if b.ChainEnd, err = fetchChainEnd(ctx, base, id, cp.Size); err != nil {
		return nil, err
	}
	prove := func(ctx context.Context, from, to int64) (tlog.TreeProof, error) {
		var p verify.ConsistencyJSON
		err := getRetry(ctx, fmt.Sprintf("%s/api/v1/proof/consistency?from=%d&to=%d", base, from, to), &p)
		return p.Proof, err
	}
	return &source{bundle: b, trusted: key, keyFrom: "--log-key", prove: prove, close: func() {}}, nil
}

// getRetry is getJSON that waits out the server's rate limit (429) a few times.
func getRetry(ctx context.Context, u string, v any) error {
	for try := 0; ; try++ {
		err := getJSON(ctx, u, v)
		if fault.CodeOf(err) != "rate_limited" || try == 10 {
			var ue *url.Error
			if errors.As(err, &ue) {
				return withHint(err, "is the server running, and is --server its base URL?")
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// serverEnterpriseByCode finds an enterprise by credit code through the server's registry search.
func serverEnterpriseByCode(ctx context.Context, base, code string) (uuid.UUID, error) {
	var l verify.ListJSON[verify.Enterprise]
	if err := getRetry(ctx, base+"/api/v1/enterprises?limit=100&q="+url.QueryEscape(code), &l); err != nil {
		return uuid.Nil, fmt.Errorf("look up the credit code: %w", err)
	}
	for _, e := range l.Items {
		if e.CreditCode == code {
			if id, err := uuid.Parse(e.ID); err == nil {
				return id, nil
			}
		}
	}
	return uuid.Nil, enterpriseNotFound(code, fault.New(fault.NotFound, "no such enterprise"))
}

// fetchCheckpoint fetches the server's latest checkpoint and verifies it with the log key; a
// checkpoint that does not verify is a failed verification (exit 1).
func fetchCheckpoint(ctx context.Context, base string, v note.Verifier) (*ledger.SignedCheckpoint, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/checkpoint", nil)
	if err != nil {
		return nil, usagef("--server: %v", err)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, withHint(err, "is the server at %s running?", base)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch the checkpoint: %w", httpError(resp.StatusCode, body))
	}
	cp, err := ledger.OpenCheckpoint(body, v)
	if err != nil {
		return nil, &failedError{"CHECKPOINT REFUSED: the server's checkpoint does not verify with the log key: " + fault.MessageOf(err)}
	}
	return cp, nil
}

// fetchChain reads a chain's records covered by a tree of the given size, with their inclusion
// proofs in that tree, through /api/v1/enterprises/{id}/chain (the registry chain is the nil id).
// Pages served under a newer checkpoint get their proofs fetched at the size asked.
func fetchChain(ctx context.Context, base string, chain uuid.UUID, size int64) ([]cert.BundleRecord, error) {
	var out []cert.BundleRecord
	from := 0
	for {
		var page verify.ChainJSON
		if err := getRetry(ctx, fmt.Sprintf("%s/api/v1/enterprises/%s/chain?from=%d&limit=100", base, chain, from), &page); err != nil {
			return nil, err
		}
		for _, r := range page.Records {
			if r.Index >= size {
				return out, nil
			}
			proof := r.Proof
			if page.Size != size {
				var p verify.InclusionJSON
				if err := getRetry(ctx, fmt.Sprintf("%s/api/v1/proof/inclusion?index=%d&size=%d", base, r.Index, size), &p); err != nil {
					return nil, err
				}
				proof = p.Proof
			}
			out = append(out, cert.BundleRecord{Index: r.Index, Bytes: r.Bytes, Proof: proof})
		}
		if page.Next == "" || len(page.Records) == 0 {
			return out, nil
		}
		from += len(page.Records)
	}
}

// fetchChainEnd reads the proof of where a chain ends in the tree of the given size, through
// /api/v1/enterprises/{id}/chain/end.
func fetchChainEnd(ctx context.Context, base string, chain uuid.UUID, size int64) (*cert.BundleEnd, error) {
	var e verify.ChainEndJSON
	if err := getRetry(ctx, fmt.Sprintf("%s/api/v1/enterprises/%s/chain/end?size=%d", base, chain, size), &e); err != nil {
		if fault.CodeOf(err) == fault.NotFound {
			return nil, withHint(fmt.Errorf("the server proves no chain end for checkpoint %d: %w", size, err), "run the audit again: the server keeps the chain heads of its latest checkpoints only")
		}
		return nil, fmt.Errorf("fetch the chain's end: %w", err)
	}
	b := &cert.BundleEnd{Last: cert.BundleRecord{Index: e.Last.Index, Bytes: e.Last.Bytes, Proof: e.Last.Proof},
		Len: e.Len, Index: e.Index, Siblings: e.Siblings}
	if e.Other != nil {
		oc, err := uuid.Parse(e.Other.Chain)
		if err != nil {
			return nil, errors.New("fetch the chain's end: malformed answer")
		}
		b.Other = &cert.BundleHead{Chain: oc, Len: e.Other.Len, Index: e.Other.Index}
	}
	return b, nil
}
