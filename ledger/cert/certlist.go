package cert

import "github.com/google/uuid"

func newCertificate() *Certificate   { return new(Certificate) }
func (c *Certificate) id() uuid.UUID { return c.ID }

// Certificates lists every granted certificate with its status changes and supersession, in
// id order after the id after (uuid.Nil to start), at most limit; next is the cursor of the
// following page (uuid.Nil at the end). It reads the projection's certificate keys only
// (x c, x H, x R), for indexes that follow the log (the registry search's filters).
func (r *Registry) Certificates(after uuid.UUID, limit int) ([]*Certificate, uuid.UUID, error) {
	return list(r, 'c', after, limit, newCertificate, func(v *view, c *Certificate) (bool, error) {
		if err := loadHistory(v.st, c); err != nil {
			return false, err
		}
		return true, loadSupersession(v.st, c)
	})
}
