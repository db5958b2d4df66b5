package backend

import (
	"strings"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/index"
)

// Indexer is the collector's index hook (collector.Indexer) over an
// index.Index.
type Indexer struct{ Index *index.Index }

// IndexEmail implements collector.Indexer.
func (x *Indexer) IndexEmail(rec *core.Email, meta *collector.EmailMeta, subs []collector.SubmissionStatus) error {
	return x.Index.IndexEmails([]index.EmailDoc{{Email: rec, Status: statusMap(subs)}})
}

// UpdateSubmissions implements collector.Indexer.
func (x *Indexer) UpdateSubmissions(id string, subs []collector.SubmissionStatus) error {
	return x.Index.UpdateStatus(id, statusMap(subs))
}

// DeleteEmail implements collector.Indexer.
func (x *Indexer) DeleteEmail(id string) error { return x.Index.Delete(id) }

// StoreSource is an index.Source over a collector store: every stored
// email, every session that carried no email, every review/ entry.
type StoreSource struct{ Store *collector.Store }

// Count implements index.Source.
func (s *StoreSource) Count() (int, error) {
	st, err := s.Store.Stats()
	if err != nil {
		return -1, err
	}
	return int(st.Emails + st.Reviewed), nil
}

// Walk implements index.Source.
func (s *StoreSource) Walk(want func(id string) bool, fn func(index.Doc) error) error {
	var ferr error
	err := s.Store.ListEmails(func(m *collector.EmailMeta) bool {
		if want != nil && !want(m.ID) {
			return true
		}
		d, err := s.LoadEmail(m.ID)
		if err != nil {
			return true // a broken record must not stop the others
		}
		if ferr = fn(index.Doc{Email: &d}); ferr != nil {
			return false
		}
		return true
	})
	if ferr != nil {
		return ferr
	}
	if err != nil {
		return err
	}
	err = s.Store.ListSessions(func(m *collector.SessionMeta) bool {
		if len(m.Emails) > 0 || (want != nil && !want(index.SessionDocID(m.UID))) {
			return true
		}
		d, err := sessionDoc(s.Store, m)
		if err != nil {
			return true
		}
		if ferr = fn(index.Doc{Session: &d}); ferr != nil {
			return false
		}
		return true
	})
	if ferr != nil {
		return ferr
	}
	if err != nil {
		return err
	}
	rev, err := s.Store.Review()
	if err != nil {
		return err
	}
	for _, r := range rev {
		if strings.HasSuffix(r.Name, ".error") || (want != nil && !want(index.ReviewDocID(r.Name))) {
			continue
		}
		if err := fn(index.Doc{Review: &index.ReviewDoc{Name: r.Name, Reason: r.Reason, Time: r.Time}}); err != nil {
			return err
		}
	}
	return nil
}

// LoadEmail implements index.Source.
func (s *StoreSource) LoadEmail(id string) (index.EmailDoc, error) {
	rec, err := s.Store.Record(id)
	if err != nil {
		return index.EmailDoc{}, err
	}
	subs, _ := s.Store.Submissions(id)
	return index.EmailDoc{Email: rec, Status: statusMap(subs)}, nil
}
