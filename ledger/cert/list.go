package cert

import "github.com/google/uuid"

// Enterprises lists every registered enterprise, whatever the state of its certificates, in id
// order after the id after (uuid.Nil to start), at most limit; next is the cursor of the
// following page (uuid.Nil at the end). The public registry shows suspended and revoked
// enterprises too, with their status.
func (r *Registry) Enterprises(after uuid.UUID, limit int) (ents []*Enterprise, next uuid.UUID, err error) {
	limit = pageSize(limit)
	err = r.scan('e', after, func(_ store, v []byte) (bool, error) {
		e := new(Enterprise)
		if err := jsonUnmarshal(v, e); err != nil {
			return false, err
		}
		ents = append(ents, e)
		next = e.ID
		return len(ents) >= limit, nil
	})
	if len(ents) < limit {
		next = uuid.Nil
	}
	return ents, next, err
}

// Products lists every registered product; paginated like Enterprises.
func (r *Registry) Products(after uuid.UUID, limit int) (ps []*Product, next uuid.UUID, err error) {
	limit = pageSize(limit)
	err = r.scan('p', after, func(_ store, v []byte) (bool, error) {
		p := new(Product)
		if err := jsonUnmarshal(v, p); err != nil {
			return false, err
		}
		ps = append(ps, p)
		next = p.ID
		return len(ps) >= limit, nil
	})
	if len(ps) < limit {
		next = uuid.Nil
	}
	return ps, next, err
}
