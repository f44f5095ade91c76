package index

import "github.com/cockroachdb/pebble/v2"

// DBMetrics returns pebble's own metrics of index uid's database (opening
// it if it is not open yet), for monitoring (package task/metrics exports
// them). The block cache in them is the store's, shared by every index.
// ErrNotFound.
func (s *Store) DBMetrics(uid string) (*pebble.Metrics, error) {
	h, err := s.acquire(uid)
	if err != nil {
		return nil, err
	}
	defer s.releaseHandle(h)
	db, err := s.database(h)
	if err != nil {
		return nil, err
	}
	return db.Metrics(), nil
}
