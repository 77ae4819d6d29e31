package main

import (
	"fmt"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/label"
)

// digitalLinkBatch is what label issue --digital-link needs, checked before the batch event is
// appended: the links go to the host of the URL prefix (the resolver is the same service), carry
// the product's GTIN as 14 digits, and the lot must be one a link can carry. Nil without the flag.
func digitalLinkBatch(on bool, prefix, gtin, lot string) (*label.DigitalLinkBatch, error) {
	if !on {
		return nil, nil
	}
	host, https := label.HostOfPrefix(prefix)
	if gtin == "" {
		return nil, withHint(fmt.Errorf("--digital-link: the product has no GTIN"), "a GS1 Digital Link names the product by its GTIN; issue token labels without --digital-link")
	}
	g, err := label.CheckDigitalLinkBatch(host, gtin, lot)
	switch fault.FieldOf(err) {
	case "":
	case "lot":
		return nil, usagef("--lot %q: a Digital Link's lot (GS1 AI 10) must be 1-20 characters of 0-9 A-Z - .", lot)
	case "gtin":
		return nil, fmt.Errorf("--digital-link: the product's GTIN %s is not valid: %s", gtin, fault.MessageOf(err))
	default:
		return nil, withHint(fmt.Errorf("--digital-link: URL prefix %q: %s", prefix, fault.MessageOf(err)), "set one with --prefix HTTPS://HOST/Q/")
	}
	return &label.DigitalLinkBatch{Host: host, GTIN: g, Plain: !https}, nil
}
