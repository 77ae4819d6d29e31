package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/santong-cn/santong/internal/scheme"
	"image"
	_ "image/jpeg" // decoders for image.Decode
	_ "image/png"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/label"
	"github.com/santong-cn/santong/ledger"
	"github.com/santong-cn/santong/verify"
)

// cmdVerify verifies a label code: a token, its URL, a GS1 Digital Link, or an image of the QR
// code. With --server it asks the service for the verdict; with --bundle it decides offline from
// an audit bundle; with neither it only reads the code. Exit 0 only for genuine and certified.
func cmdVerify(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("verify")
	server := fs.String("server", "", "ask this verification service, e.g. http://127.0.0.1:8080")
	bundle := fs.String("bundle", "", "decide offline from this audit bundle (santong audit export)")
	logKey := fs.String("log-key", "", "with --bundle: the log key you trust (default $SANTONG_LOG_KEY; else one pinned by an earlier audit of the log)")
	jsonOut := fs.Bool("json", false, "print the verdict as JSON")
	quorum := addQuorumFlags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("give one code to verify: a token, its URL, or an image of the QR code")
	}
	if *server != "" && *bundle != "" {
		return usagef("--server and --bundle are exclusive: ask a server, or decide offline from a bundle")
	}
	code, fromImage, err := readCode(pos[0])
	if err != nil {
		return err
	}
	tok, dl, err := parseCode(code)
	if err != nil {
		return fmt.Errorf("not a Santong label code: %s", fault.MessageOf(err))
	}
	if fromImage && !*jsonOut {
		fmt.Fprintf(c.stdout, "code   %s\n", code)
	}
	switch {
	case *server != "":
		return c.verifyServer(ctx, *server, tok, dl, *jsonOut)
	case *bundle != "":
		key := *logKey
		if key == "" {
			key = c.getenv("SANTONG_LOG_KEY")
		}
		return c.verifyBundle(code, *bundle, key, *jsonOut, quorum)
	}
	form := "token"
	if dl != nil {
		form = "digital_link"
	}
	if *jsonOut {
		_ = c.printJSON(map[string]any{"verdict": "unchecked", "genuine": false, "form": form, "batch": tok.Batch, "serial": tok.Serial,
			"message": "the signature cannot be checked without --server or --bundle"})
	} else {
		fmt.Fprintf(c.stdout, "form   %s\nbatch  %d (the ledger index of its batch event)\nserial %d\nlabel  %s\n", form, tok.Batch, tok.Serial, tok.Short())
	}
	return &failedError{"not verified: the signature and the certification cannot be checked without --server URL or --bundle FILE"}
}

// parseInterspersed parses flags that may come before or after the positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parse(fs, args, true); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// readCode returns the text of the code: the argument itself, or the QR code decoded from the
// image file it names.
func readCode(arg string) (string, bool, error) {
	st, err := os.Stat(arg)
	if err != nil || st.IsDir() {
		if low := strings.ToLower(arg); !strings.Contains(low, "://") &&
			(strings.HasSuffix(low, ".png") || strings.HasSuffix(low, ".jpg") || strings.HasSuffix(low, ".jpeg")) {
			return "", false, fmt.Errorf("%s: no such image file", arg)
		}
		return strings.TrimSpace(arg), false, nil
	}
	f, err := os.Open(arg)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	text, err := decodeQR(io.LimitReader(f, 64<<20))
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", arg, err)
	}
	return text, true, nil
}

// decodeQR reads a PNG or JPEG image and decodes the QR code in it.
func decodeQR(r io.Reader) (string, error) {
	img, _, err := image.Decode(r)
	if err != nil {
		return "", errors.New("not a PNG or JPEG image")
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", errors.New("unreadable image")
	}
	// The finder-pattern detector misjudges the size of about one generated code in 150
	// ("dimension = 31"); an upright code alone in its image, as label PNGs are, is then read
	// directly from its modules.
	for _, hint := range []gozxing.DecodeHintType{gozxing.DecodeHintType_TRY_HARDER, gozxing.DecodeHintType_PURE_BARCODE} {
		res, err := zxqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{hint: true})
		if err == nil {
			return res.GetText(), nil
		}
	}
	return "", errors.New("no QR code found in the image")
}

// parseCode reads a token (bare or in a URL) or a GS1 Digital Link.
func parseCode(s string) (label.Token, *label.DigitalLink, error) {
	tok, err := label.Parse(s)
	if err == nil {
		return tok, nil, nil
	}
	if strings.Contains(s, "/01/") {
		d, derr := label.ParseDigitalLink(s)
		if derr != nil {
			return label.Token{}, nil, derr
		}
		return d.Token, &d, nil
	}
	return label.Token{}, nil, err
}

// verifyServer asks the service for the verdict.
func (c *cli) verifyServer(ctx context.Context, server string, tok label.Token, dl *label.DigitalLink, jsonOut bool) error {
	base := strings.TrimSuffix(server, "/")
	u := base + "/api/v1/verify/" + tok.String()
	if dl != nil {
		sig := strings.SplitN(dl.URL(), "?S=", 2)[1]
		u = fmt.Sprintf("%s/01/%s/10/%s/21/%d?S=%s", base, dl.GTIN, dl.Lot, dl.Token.Serial, sig)
	}
	var v verify.Verdict
	if err := getRetry(ctx, u, &v); err != nil {
		return err
	}
	if jsonOut {
		if err := c.printJSON(v); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(c.stdout, "%s · %s\n%s · %s\n", v.Advice.ZH, v.Title.ZH, v.Advice.EN, v.Title.EN)
		for _, m := range v.Messages {
			fmt.Fprintf(c.stdout, "  %s\n  %s\n", m.ZH, m.EN)
		}
		if e := v.Enterprise; e != nil {
			fmt.Fprintf(c.stdout, "enterprise   %s  %s\n", e.Name, e.CreditCode)
		}
		if p := v.Product; p != nil {
			fmt.Fprintf(c.stdout, "product      %s", p.Name)
			if p.GTIN != "" {
				fmt.Fprintf(c.stdout, "  GTIN %s", p.GTIN)
			}
			fmt.Fprintln(c.stdout)
		}
		if b := v.Batch; b != nil {
			fmt.Fprintf(c.stdout, "batch        %d  lot %s  made %s\n", b.Index, b.Lot, b.ProducedAt.Format("2006-01-02"))
		}
		if ct := v.Certificate; ct != nil {
			fmt.Fprintf(c.stdout, "certificate  %s  %s  %s\n", ct.Number, schemeWords(ct.Scheme), statusWords(ct.Status))
		}
		if v.RecordURL != "" {
			fmt.Fprintf(c.stdout, "record       %s\n", v.RecordURL)
		}
	}
	if v.Verdict != label.VerdictGenuine {
		return &failedError{"verdict: " + v.Verdict}
	}
	return nil
}

// offlineJSON is verify --bundle's --json form.
type offlineJSON struct {
	Verdict     string `json:"verdict"`
	Genuine     bool   `json:"genuine"`
	Reason      string `json:"reason,omitempty"`
	Form        string `json:"form"`
	Batch       int64  `json:"batch"`
	Serial      uint64 `json:"serial"`
	Enterprise  string `json:"enterprise,omitempty"`
	CreditCode  string `json:"credit_code,omitempty"`
	Product     string `json:"product,omitempty"`
	Lot         string `json:"lot,omitempty"`
	Certificate string `json:"certificate,omitempty"`
	StatusNow   string `json:"status_now,omitempty"`
	StatusMade  string `json:"status_at_production,omitempty"`
	Checkpoint  int64  `json:"checkpoint_size"`
	LogKey      string `json:"log_key"`
}

// verifyBundle decides offline from a bundle.
func (c *cli) verifyBundle(code, path, logKey string, jsonOut bool, quorum *quorumFlags) error {
	b, err := readBundleFile(path)
	if err != nil {
		return err
	}
	if logKey != "" {
		if _, err := parseLogKey(logKey); err != nil {
			return err
		}
	} else if _, ok := pinnedByMemory(b.Origin, b.LogKey); ok {
		logKey = b.LogKey
	} else {
		return errNotPinned(b.LogKey)
	}
	if _, err := quorum.need(); err != nil {
		return err
	}
	res, err := label.VerifyOffline(code, b, label.OfflineOptions{LogKey: logKey})
	if err != nil {
		var f *ledger.Fault
		if errors.As(err, &f) {
			return &failedError{"BUNDLE REFUSED: " + strings.TrimPrefix(f.Error(), "replay: ")}
		}
		return err
	}
	cosigned, err := quorum.check(res.Audit.Checkpoint.Note, res.Audit.Checkpoint.Size)
	if err != nil {
		return err
	}
	if cosigned != "" && !jsonOut {
		defer fmt.Fprintf(c.stdout, "witnesses    %s\n", cosigned)
	}
	out := offlineJSON{Verdict: res.Verdict, Genuine: res.Genuine, Reason: res.Reason, Form: res.Form,
		Batch: res.Token.Batch, Serial: res.Token.Serial, Enterprise: res.Enterprise.Name, CreditCode: res.Enterprise.USCC,
		StatusNow: res.StatusNow, StatusMade: res.StatusMade, Checkpoint: res.Audit.Checkpoint.Size, LogKey: res.Audit.LogKey}
	if res.Product != nil {
		out.Product = res.Product.Name
	}
	if res.Batch != nil {
		out.Lot = res.Batch.Lot
	}
	if res.Certificate != nil {
		out.Certificate = res.Certificate.Number
	}
	if jsonOut {
		if err := c.printJSON(out); err != nil {
			return err
		}
	} else {
		sch := ""
		if res.Certificate != nil {
			sch = res.Certificate.Scheme
		}
		fmt.Fprintf(c.stdout, "verdict      %s %s\n", verdictText(res.Verdict, sch), res.Verdict)
		if res.Reason != "" {
			fmt.Fprintf(c.stdout, "why          %s\n", res.Reason)
		}
		fmt.Fprintf(c.stdout, "enterprise   %s  %s\n", out.Enterprise, out.CreditCode)
		if out.Product != "" {
			fmt.Fprintf(c.stdout, "product      %s  lot %s  unit %s\n", out.Product, out.Lot, label.ShortSerial(res.Token.Batch, res.Token.Serial))
		}
		if res.Certificate != nil {
			fmt.Fprintf(c.stdout, "certificate  %s  %s now, %s when made\n", out.Certificate, statusWords(res.StatusNow), statusWords(res.StatusMade))
		}
		fmt.Fprintf(c.stdout, "offline      from the bundle's checkpoint %d (%s); later records, if any, are not known\n",
			out.Checkpoint, strconv.Quote(res.Audit.Checkpoint.Origin))
	}
	if res.Verdict != label.VerdictGenuine {
		return &failedError{"verdict: " + res.Verdict}
	}
	return nil
}

var verdictWords = map[string]string{
	label.VerdictGenuine:     "✓ 正品 · %s有效",
	label.VerdictSuspended:   "! 真实标签 · %s已暂停",
	label.VerdictRevoked:     "✗ 真实标签 · %s已撤销",
	label.VerdictExpired:     "! 真实标签 · %s已过期",
	label.VerdictUncertified: "! 真实标签 · 无有效认证",
	label.VerdictRecalled:    "⚠ 该批次已召回",
	label.VerdictVoid:        "⊘ 作废标签 · 从未售出",
	label.VerdictUnknown:     "? 未知编码",
	label.VerdictForged:      "✗ 伪造",
}

// verdictText is the verdict's words, naming the scheme of the certificate it rests on (an
// eco-origin product is never called 三同).
func verdictText(verdict, schemeID string) string {
	w, ok := verdictWords[verdict]
	if !ok {
		return verdict
	}
	if !strings.Contains(w, "%s") {
		return w
	}
	name := "认证"
	if s, ok := scheme.Lookup(schemeID); ok {
		name = s.Name.ZH
	}
	return fmt.Sprintf(w, name)
}
