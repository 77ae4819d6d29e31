package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/internal/ids"
	"github.com/santong-cn/santong/ledger/cert"
	"github.com/santong-cn/santong/ledger/event"
	"github.com/santong-cn/santong/verify"
)

// Resolution of what users type into the ids that events carry: locally through the registry,
// with --server through the server's JSON API (docs/api.md), which answers enterprises by id and
// credit code, products by GTIN, and lists every enterprise's certificates. The server has no
// lookup of audits, inspections, complaints, batches or keys by id: with --server, commands on
// those name the enterprise with --enterprise.

// notFoundFlag is the error for a flag that names nothing.
func notFoundFlag(name, what string, err error) error {
	if fault.CodeOf(err) != fault.NotFound {
		return fmt.Errorf("--%s: look up the %s: %w", name, what, err)
	}
	return withHint(fmt.Errorf("--%s: no such %s", name, what), "check the id; the registry lists what is recorded (santong serve, then /registry)")
}

// enterprise resolves an enterprise named by its id (UUID) or its 18-character credit code.
func (s *signer) enterprise(ctx context.Context, name, ref string) (uuid.UUID, error) {
	if ref == "" {
		return uuid.Nil, usagef("--%s is required: the enterprise's id or credit code", name)
	}
	if id, err := uuid.Parse(ref); err == nil && len(ref) == 36 {
		if s.reg != nil {
			if _, err := s.reg.Enterprise(id); err != nil {
				return uuid.Nil, notFoundFlag(name, "enterprise", err)
			}
			return id, nil
		}
		var rec verify.EnterpriseJSON
		if err := getJSON(ctx, s.server+"/api/v1/enterprises/"+id.String(), &rec); err != nil {
			return uuid.Nil, notFoundFlag(name, "enterprise", err)
		}
		return id, nil
	}
	code := strings.ToUpper(ref)
	if len(code) != 18 {
		return uuid.Nil, usagef("--%s: %q is neither an enterprise id (UUID) nor an 18-character credit code", name, short(ref))
	}
	if err := ids.ValidateUSCC(code); err != nil {
		return uuid.Nil, usagef("--%s: %s", name, fault.MessageOf(err))
	}
	if s.reg != nil {
		e, err := s.reg.EnterpriseByUSCC(code)
		if err != nil {
			return uuid.Nil, notFoundFlag(name, "enterprise with credit code "+code, err)
		}
		return e.ID, nil
	}
	var found uuid.UUID
	err := fromListing(ctx, func() (bool, error) {
		var l verify.ListJSON[verify.Enterprise]
		if err := getJSON(ctx, s.server+"/api/v1/enterprises?limit=100&q="+url.QueryEscape(code), &l); err != nil {
			return false, fmt.Errorf("--%s: look up the credit code: %w", name, err)
		}
		for _, e := range l.Items {
			if id, err := uuid.Parse(e.ID); err == nil && e.CreditCode == code {
				found = id
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return uuid.Nil, err
	}
	if found == uuid.Nil {
		return uuid.Nil, notFoundFlag(name, "enterprise with credit code "+code, fault.New(fault.NotFound, ""))
	}
	return found, nil
}

// ownEnterprise is the enterprise named by --enterprise, or else (locally) the owner of the
// signing key when it is an enterprise key.
func (s *signer) ownEnterprise(ctx context.Context, ref string) (uuid.UUID, error) {
	if ref != "" || s.reg == nil {
		if ref == "" {
			return uuid.Nil, usagef("--enterprise is required with --server: the enterprise's id or credit code")
		}
		return s.enterprise(ctx, "enterprise", ref)
	}
	k, err := s.reg.Key(s.keyID())
	if err != nil || k.Role != event.RoleEnterprise {
		return uuid.Nil, usagef("--enterprise is required: the signing key is not an enterprise key")
	}
	return k.Owner, nil
}

// product resolves a product named by its id or its GTIN.
func (s *signer) product(ctx context.Context, name, ref string) (uuid.UUID, error) {
	if id, err := uuid.Parse(ref); err == nil && len(ref) == 36 {
		return id, nil // the registry checks that it is the enterprise's
	}
	if ids.ValidateGTIN(ref) != nil {
		return uuid.Nil, usagef("--%s: %q is neither a product id (UUID) nor a valid GTIN", name, short(ref))
	}
	if s.reg != nil {
		p, err := s.reg.ProductByGTIN(ref)
		if err != nil {
			return uuid.Nil, notFoundFlag(name, "product with GTIN "+ref, err)
		}
		return p.ID, nil
	}
	p, err := findListedProduct(ctx, s.server, ref, nil)
	if err != nil {
		return uuid.Nil, fmt.Errorf("--%s: look up the GTIN: %w", name, err)
	}
	if p == nil {
		return uuid.Nil, notFoundFlag(name, "product with GTIN "+ref, fault.New(fault.NotFound, ""))
	}
	id, err := uuid.Parse(p.ID)
	if err != nil {
		return uuid.Nil, fmt.Errorf("malformed product listing from the server")
	}
	return id, nil
}

// findListedProduct finds a product by id or GTIN in a server's public registry. The listings
// lag writes a little, so it looks again (for up to two seconds) until the product is listed and,
// when ready is set, ready says its listing is complete. It returns nil when no product matched.
func findListedProduct(ctx context.Context, server, ref string, ready func(*verify.Product) bool) (*verify.Product, error) {
	u := strings.TrimSuffix(server, "/") + "/api/v1/products?limit=100&q=" + url.QueryEscape(ref)
	g14, _ := ids.GTIN14(ref)
	var found *verify.Product
	err := fromListing(ctx, func() (bool, error) {
		var l verify.ListJSON[verify.Product]
		if err := getJSON(ctx, u, &l); err != nil {
			return false, withHint(err, "is the server at %s running?", server)
		}
		for i := range l.Items {
			p := &l.Items[i]
			x, _ := ids.GTIN14(p.GTIN)
			if p.ID == ref || (g14 != "" && x == g14) {
				found = p
				return ready == nil || ready(p), nil
			}
		}
		return false, nil
	})
	return found, err
}

func (s *signer) products(ctx context.Context, name string, refs []string) ([]uuid.UUID, error) {
	var out []uuid.UUID
	for _, r := range refs {
		id, err := s.product(ctx, name, r)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

// certificate resolves --cert (an id, or locally a certificate number) and the enterprise it
// belongs to (--enterprise when given; else from the registry, or the server's listing).
func (s *signer) certificate(ctx context.Context, ref, entRef string) (*cert.Certificate, uuid.UUID, error) {
	if ref == "" {
		return nil, uuid.Nil, usagef("--cert is required: the certificate's id")
	}
	id, perr := uuid.Parse(ref)
	if perr != nil || len(ref) != 36 {
		if s.reg == nil {
			return nil, uuid.Nil, usagef("--cert: %q is not a certificate id (UUID); numbers are looked up with --data only", short(ref))
		}
		for _, scheme := range []string{event.SchemeSantong, event.SchemeEcoOrigin} {
			if c, err := s.reg.CertificateByNumber(scheme, ref); err == nil {
				return c, c.Enterprise, nil
			}
		}
		return nil, uuid.Nil, notFoundFlag("cert", "certificate with this id or number", fault.New(fault.NotFound, ""))
	}
	if s.reg != nil {
		c, err := s.reg.Certificate(id)
		if err != nil {
			return nil, uuid.Nil, notFoundFlag("cert", "certificate", err)
		}
		if err := s.sameEnterprise(ctx, entRef, c.Enterprise, "certificate"); err != nil {
			return nil, uuid.Nil, err
		}
		return c, c.Enterprise, nil
	}
	if entRef != "" {
		ent, err := s.enterprise(ctx, "enterprise", entRef)
		return &cert.Certificate{ID: id, Enterprise: ent}, ent, err
	}
	// The server lists every enterprise with its certificates.
	var ent uuid.UUID
	err := fromListing(ctx, func() (bool, error) {
		next := s.server + "/api/v1/enterprises?limit=100&offset=0"
		for pages := 0; next != "" && pages < 10000; pages++ {
			var l verify.ListJSON[verify.Enterprise]
			if err := getJSON(ctx, next, &l); err != nil {
				return false, fmt.Errorf("--cert: look up the certificate's enterprise: %w", err)
			}
			for _, e := range l.Items {
				for _, c := range e.Certificates {
					if x, err := uuid.Parse(e.ID); err == nil && c == id.String() {
						ent = x
						return true, nil
					}
				}
			}
			next = ""
			if u, err := url.Parse(l.Next); err == nil && l.Next != "" {
				next = s.server + "/api/v1/enterprises?" + u.RawQuery
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, uuid.Nil, err
	}
	if ent == uuid.Nil {
		return nil, uuid.Nil, withHint(notFoundFlag("cert", "certificate", fault.New(fault.NotFound, "")), "or name its enterprise with --enterprise")
	}
	return &cert.Certificate{ID: id, Enterprise: ent}, ent, nil
}

// fromListing runs a lookup in the server's registry listings until it finds what it looks for,
// for up to two seconds: the listings are refreshed at most every 200 ms, so a record written a
// moment ago may not be listed yet.
func fromListing(ctx context.Context, find func() (bool, error)) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		ok, err := find()
		if err != nil || ok || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// chainOf finds the enterprise of a record named by its id: locally with lookup, with --server
// from --enterprise, which is then required.
func (s *signer) chainOf(ctx context.Context, entRef, flagName, what string, lookup func(*cert.Registry) (uuid.UUID, error)) (uuid.UUID, error) {
	if s.reg == nil {
		if entRef == "" {
			return uuid.Nil, usagef("--enterprise is required with --server: the server has no lookup of a %s's enterprise", what)
		}
		return s.enterprise(ctx, "enterprise", entRef)
	}
	ent, err := lookup(s.reg)
	if err != nil {
		return uuid.Nil, notFoundFlag(flagName, what, err)
	}
	if err := s.sameEnterprise(ctx, entRef, ent, what); err != nil {
		return uuid.Nil, err
	}
	return ent, nil
}

// sameEnterprise checks that --enterprise, when given, names the enterprise a record belongs to.
func (s *signer) sameEnterprise(ctx context.Context, entRef string, ent uuid.UUID, what string) error {
	if entRef == "" {
		return nil
	}
	id, err := s.enterprise(ctx, "enterprise", entRef)
	if err != nil {
		return err
	}
	if id != ent {
		return usagef("--enterprise: the %s belongs to another enterprise (%s)", what, ent)
	}
	return nil
}
