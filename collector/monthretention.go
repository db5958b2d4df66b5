package collector

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// MonthIndex is an Indexer whose index keeps one index per calendar month
// and can drop a month whole: retention by month (RetentionConfig.ByMonth,
// the hub) removes a month's records from the store and then its index,
// without rewriting the other months.
type MonthIndex interface {
	// IndexMonths lists the months of the index, oldest first.
	IndexMonths() ([]IndexMonth, error)
	// MonthDocs returns the index document IDs of one month: email IDs,
	// "session/<uid>" and "review/<name>".
	MonthDocs(key string) ([]string, error)
	// DropMonth removes one month of the index whole.
	DropMonth(key string) error
}

// IndexMonth is one month of a MonthIndex.
type IndexMonth struct {
	Key        string    // "2006-01"
	Start, End time.Time // its first instant and the next month's
}

// Index document ID prefixes of sessions without email and review
// entries (index.SessionDocID, index.ReviewDocID).
const (
	sessionDocPrefix = "session/"
	reviewDocPrefix  = "review/"
)

// monthBatch bounds the emails removed per transaction.
const monthBatch = 200

// applyMonthRetention drops, oldest first, every month of the index that
// ended more than max_age ago, then the oldest months while the store is
// larger than max_size; never the month of now or a later one. A month
// holding an email still queued or retrying for delivery is kept whole
// (counted in Kept) until the next pass. For each month dropped, its
// emails (with their sessions) and its sessions without email leave the
// store through the same removal as session retention (records, bytes,
// attachments no other email uses, submission states, index marks), in
// short transactions; then its index is removed whole. Review entries are
// not removed (as on a sensor): their documents are indexed again.
func (c *Collector) applyMonthRetention(now time.Time, mi MonthIndex, rc RetentionConfig) ([]string, []*SessionMeta, RetentionResult, error) {
	var res RetentionResult
	var removed []string
	var removedSessions []*SessionMeta
	months, err := mi.IndexMonths()
	if err != nil {
		return nil, nil, res, err
	}
	s := c.store
	current := time.Date(now.UTC().Year(), now.UTC().Month(), 1, 0, 0, 0, 0, time.UTC)
	for _, m := range months {
		if !m.Start.Before(current) {
			break
		}
		var total int64
		if err := s.db.b.View(func(tx *bolt.Tx) error { total = metaCount(tx, "bytes"); return nil }); err != nil {
			return removed, removedSessions, res, err
		}
		tooOld := rc.MaxAge > 0 && now.Sub(m.End) > rc.MaxAge.D()
		tooBig := rc.MaxSize > 0 && total > int64(rc.MaxSize)
		if !tooOld && !tooBig {
			break // oldest first: nothing newer qualifies
		}
		ids, err := mi.MonthDocs(m.Key)
		if err != nil {
			return removed, removedSessions, res, err
		}
		var emails, uids, reviews []string
		for _, id := range ids {
			switch {
			case strings.HasPrefix(id, sessionDocPrefix):
				uids = append(uids, strings.TrimPrefix(id, sessionDocPrefix))
			case strings.HasPrefix(id, reviewDocPrefix):
				reviews = append(reviews, strings.TrimPrefix(id, reviewDocPrefix))
			default:
				emails = append(emails, id)
			}
		}
		queued := false
		if err := s.db.b.View(func(tx *bolt.Tx) error { queued = queuedAny(tx, emails); return nil }); err != nil {
			return removed, removedSessions, res, err
		}
		if queued {
			res.Kept++
			c.log.Info("retention: month kept, an email of it is queued for delivery", "month", m.Key)
			continue
		}
		ids, sess, empty, err := removeMonthRecords(s, emails, uids, &res)
		removed = append(removed, ids...)
		removedSessions = append(removedSessions, empty...)
		res.Sessions += sess
		if err != nil {
			return removed, removedSessions, res, fmt.Errorf("retention: month %s: %w", m.Key, err)
		}
		if err := mi.DropMonth(m.Key); err != nil {
			return removed, removedSessions, res, fmt.Errorf("retention: month %s: %w", m.Key, err)
		}
		res.Months = append(res.Months, m.Key)
		if c.indexer != nil {
			for _, name := range reviews {
				if err := c.indexer.IndexReview(&ReviewEntry{Name: name}); err != nil {
					c.fail("indexing review entry "+name+" again", err)
				}
			}
		}
		c.log.Info("retention: month dropped", "month", m.Key, "emails", len(ids), "sessions", sess)
	}
	return removed, removedSessions, res, nil
}

// removeMonthRecords removes the given emails (an email of a session
// takes its session and the session's other emails with it) and the
// sessions without email of the given uids from the store, monthBatch
// emails per transaction, deleting the files after each commit. It
// returns the removed email IDs, the number of sessions removed and those
// of them without email.
func removeMonthRecords(s *Store, emails, uids []string, res *RetentionResult) ([]string, int, []*SessionMeta, error) {
	var removed []string
	var empty []*SessionMeta
	sessions := 0
	// the session keys of the uids (sessions without email): one pass
	// over the sessions, only when there are any
	var keys []string
	if len(uids) > 0 {
		want := map[string]bool{}
		for _, u := range uids {
			want[u] = true
		}
		err := s.db.b.View(func(tx *bolt.Tx) error {
			return tx.Bucket(bSessions).ForEach(func(k, v []byte) error {
				var sm SessionMeta
				if ok, err := getJSON(tx.Bucket(bSessions), k, &sm); err != nil || !ok {
					return err
				}
				if want[sm.UID] && len(sm.Emails) == 0 {
					keys = append(keys, sm.Key)
				}
				return nil
			})
		})
		if err != nil {
			return nil, 0, nil, err
		}
	}
	type item struct{ email, session string }
	var items []item
	for _, id := range emails {
		items = append(items, item{email: id})
	}
	for _, k := range keys {
		items = append(items, item{session: k})
	}
	for lo := 0; lo < len(items); lo += monthBatch {
		batch := items[lo:min(lo+monthBatch, len(items))]
		var files, ids []string
		var gone []*SessionMeta
		n := 0
		err := s.db.b.Update(func(tx *bolt.Tx) error {
			files, ids, gone, n = nil, nil, nil, 0
			var freed int64
			for _, it := range batch {
				key := it.session
				if it.email != "" {
					var em EmailMeta
					ok, err := getJSON(tx.Bucket(bEmails), []byte(it.email), &em)
					if err != nil {
						return err
					}
					if !ok {
						continue // gone already (its session went before)
					}
					if em.Session == "" {
						f, fr, err := removeEmail(s, tx, &em)
						if err != nil {
							return err
						}
						files, ids, freed = append(files, f...), append(ids, em.ID), freed+fr
						continue
					}
					key = em.Session
				}
				var sm SessionMeta
				ok, err := getJSON(tx.Bucket(bSessions), []byte(key), &sm)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				eids, f, fr, err := removeSession(s, tx, &sm)
				if err != nil {
					return err
				}
				if err := tx.Bucket(bSessionOrder).Delete(timeKey(sm.Stored, sm.Key)); err != nil {
					return err
				}
				files, ids, freed, n = append(files, f...), append(ids, eids...), freed+fr, n+1
				if len(sm.Emails) == 0 {
					gone = append(gone, &sm)
				}
			}
			if err := addMeta(tx, "bytes", -freed); err != nil {
				return err
			}
			res.Bytes += freed
			return addMeta(tx, "removed", int64(len(ids)))
		})
		if err != nil {
			return removed, sessions, empty, err
		}
		removed = append(removed, ids...)
		empty = append(empty, gone...)
		sessions += n
		res.Emails += len(ids)
		// files go after the commit (as in applyRetention)
		for _, p := range files {
			if err := os.Remove(s.Path(p)); err != nil && !errors.Is(err, os.ErrNotExist) {
				s.recordError("retention", err)
			}
			pruneEmptyDirs(s.dir, filepath.Dir(s.Path(p)))
		}
	}
	return removed, sessions, empty, nil
}
