package main

import (
	"errors"
	"net/url"
	"strings"

	"github.com/santong-cn/santong/label"
)

// publicPrefixHint improves the hint of a refused label URL prefix that a server advertised
// (advertised: no --prefix was given) when the server also names a public HTTPS URL
// (serve --public-url): the operator set the public address but left the data directory's
// url_prefix at its loopback default, and the prefix to give is the public URL's /Q/.
func publicPrefixHint(err error, publicURL string, advertised bool) error {
	var he *hintError
	if !advertised || !errors.As(err, &he) {
		return err
	}
	u, perr := url.Parse(publicURL)
	if perr != nil || u.Scheme != "https" || u.Host == "" {
		return err
	}
	p := "HTTPS://" + strings.ToUpper(u.Host) + strings.ToUpper(strings.TrimSuffix(u.Path, "/")) + "/Q/"
	if label.CheckPrefix(p) != nil || checkPublicPrefix(p, false) != nil {
		return err
	}
	return withHint(he.err, "the server's public URL is %s but its data directory's url_prefix is not: give --prefix %s (and set url_prefix in its santong.json)", publicURL, p)
}
