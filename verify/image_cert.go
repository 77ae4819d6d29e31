package verify

import (
	"time"

	"github.com/santong-cn/santong/internal/fault"
	"github.com/santong-cn/santong/ledger/attach"
	"github.com/santong-cn/santong/ledger/event"
)

// ImageUpload implements ImageUploads: the key must be enrolled and valid now, and be the
// operator's or one of the product's enterprise's keys.
func (a *CertRegistry) ImageUpload(req *attach.Signed, product string, now time.Time) (string, error) {
	k, err := (&CertAttachments{Registry: a.reg}).signer(req, now)
	if err != nil {
		return "", err
	}
	id, err := parseUUID(product, "product")
	if err != nil {
		return "", err
	}
	p, err := a.reg.Product(id)
	if err != nil {
		return "", err
	}
	switch {
	case k.Role == event.RoleOperator:
	case k.Role == event.RoleEnterprise && k.Owner == p.Enterprise:
	default:
		return "", fault.New(fault.Forbidden, "only the product's enterprise or the operator may upload its image")
	}
	if p.Image == "" {
		return "", fault.Field(fault.Conflict, "image_sha256", "the product was registered without an image")
	}
	return p.Image, nil
}

var _ ImageUploads = (*CertRegistry)(nil)
