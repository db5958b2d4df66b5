package collector

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// RetentionResult tells what one retention pass removed.
type RetentionResult struct {
	Sessions int   `json:"sessions"`
	Emails   int   `json:"emails"`
	Bytes    int64 `json:"bytes"`
	Kept     int   `json:"kept"` // sessions (months, by month) due for removal but still queued
	// Months are the index months dropped whole (RetentionConfig.ByMonth).
	Months []string `json:"months,omitempty"`
}

// ApplyRetention removes the oldest sessions (with their emails, records
// and attachments no other email uses) while they are older than
// retention.max_age or the store is larger than retention.max_size, then
// likewise the oldest raw emails (Maildir/.eml input, by arrival).
// Sessions and emails still queued or retrying are never removed. With
// retention.by_month and an index of months (MonthIndex), whole months go
// instead (applyMonthRetention).
func (c *Collector) ApplyRetention(now time.Time) (RetentionResult, error) {
	rc := c.cfg().Retention
	var res RetentionResult
	if rc.MaxAge <= 0 && rc.MaxSize <= 0 {
		return res, nil
	}
	var removed []string
	var sessions []*SessionMeta
	var err error
	if mi, ok := c.indexer.(MonthIndex); ok && rc.ByMonth {
		removed, sessions, res, err = c.applyMonthRetention(now, mi, rc)
	} else {
		removed, sessions, res, err = applyRetention(c.store, now, rc)
	}
	for _, sm := range sessions {
		if c.indexer != nil {
			if err := c.indexer.DeleteSession(sm); err != nil {
				c.fail("removing session "+sm.Key+" from the index", err)
			}
		}
	}
	for _, id := range removed {
		c.metrics.removed.Inc()
		if c.indexer != nil {
			if err := c.indexer.DeleteEmail(id); err != nil {
				c.fail("removing "+id+" from the index", err)
			}
		}
		c.hub.publish(Event{Type: EventRemoved, EmailID: id})
	}
	if res.Sessions > 0 || res.Emails > 0 || len(res.Months) > 0 {
		c.log.Info("retention", "sessions", res.Sessions, "emails", res.Emails, "bytes", res.Bytes, "kept_queued", res.Kept, "months", res.Months)
		c.refreshGauges()
	}
	return res, err
}

// ApplyRetention runs one retention pass on a store no collector runs on.
func (s *Store) ApplyRetention(now time.Time, rc RetentionConfig) (RetentionResult, error) {
	_, _, res, err := applyRetention(s, now, rc)
	return res, err
}

// applyRetention returns the ids of the emails it removed and the
// sessions without email it removed (both have index documents).
func applyRetention(s *Store, now time.Time, rc RetentionConfig) ([]string, []*SessionMeta, RetentionResult, error) {
	var res RetentionResult
	var removedIDs []string
	var removedSessions []*SessionMeta
	for {
		// one session per transaction keeps transactions short
		var files []string
		done := true
		err := s.db.b.Update(func(tx *bolt.Tx) error {
			total := metaCount(tx, "bytes")
			oc := tx.Bucket(bSessionOrder).Cursor()
			for k, _ := oc.First(); k != nil; k, _ = oc.Next() {
				if len(k) < 8 {
					continue
				}
				stored := time.Unix(0, u64(k[:8]))
				tooOld := rc.MaxAge > 0 && now.Sub(stored) > rc.MaxAge.D()
				tooBig := rc.MaxSize > 0 && total > int64(rc.MaxSize)
				if !tooOld && !tooBig {
					return nil // oldest first: nothing newer qualifies
				}
				key := string(k[8:])
				var sm SessionMeta
				ok, err := getJSON(tx.Bucket(bSessions), []byte(key), &sm)
				if err != nil {
					return err
				}
				if !ok {
					if err := tx.Bucket(bSessionOrder).Delete(k); err != nil {
						return err
					}
					done = false
					return nil
				}
				if queuedAny(tx, sm.Emails) {
					res.Kept++
					continue
				}
				ids, paths, freed, err := removeSession(s, tx, &sm)
				if err != nil {
					return err
				}
				if err := tx.Bucket(bSessionOrder).Delete(k); err != nil {
					return err
				}
				if err := addMeta(tx, "bytes", -freed); err != nil {
					return err
				}
				if err := addMeta(tx, "removed", int64(len(ids))); err != nil {
					return err
				}
				files = paths
				removedIDs = append(removedIDs, ids...)
				if len(sm.Emails) == 0 {
					removedSessions = append(removedSessions, &sm)
				}
				res.Sessions++
				res.Emails += len(ids)
				res.Bytes += freed
				done = false
				return nil
			}
			return nil
		})
		if err != nil {
			return removedIDs, removedSessions, res, err
		}
		// files go after the commit: a crash leaves orphan files, never
		// database entries pointing at missing files
		for _, p := range files {
			if err := os.Remove(s.Path(p)); err != nil && !errors.Is(err, os.ErrNotExist) {
				s.recordError("retention", err)
			}
			pruneEmptyDirs(s.dir, filepath.Dir(s.Path(p)))
		}
		if done {
			ids, err := applyRawRetention(s, now, rc, &res)
			return append(removedIDs, ids...), removedSessions, res, err
		}
		res.Kept = 0 // counted again on the next pass
	}
}

func queuedAny(tx *bolt.Tx, ids []string) bool {
	subs := tx.Bucket(bSubs)
	for _, id := range ids {
		prefix := []byte(id + "\x00")
		c := subs.Cursor()
		for k, v := c.Seek(prefix); k != nil && len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix); k, v = c.Next() {
			var st SubmissionStatus
			if json.Unmarshal(v, &st) == nil && (st.State == StateQueued || st.State == StateRetrying) {
				return true
			}
		}
	}
	return false
}

// removeSession deletes a session's entries; it returns the removed email
// ids, the files to delete and the bytes freed.
func removeSession(s *Store, tx *bolt.Tx, sm *SessionMeta) ([]string, []string, int64, error) {
	var ids, files []string
	freed := sm.Size
	files = append(files, sm.File)
	eb := tx.Bucket(bEmails)
	for _, id := range sm.Emails {
		var em EmailMeta
		ok, err := getJSON(eb, []byte(id), &em)
		if err != nil {
			return nil, nil, 0, err
		}
		if !ok || em.Session != sm.Key {
			continue
		}
		ids = append(ids, id)
		f, n, err := removeEmail(s, tx, &em)
		if err != nil {
			return nil, nil, 0, err
		}
		files = append(files, f...)
		freed += n
	}
	if err := tx.Bucket(bSessions).Delete([]byte(sm.Key)); err != nil {
		return nil, nil, 0, err
	}
	if len(sm.Emails) == 0 { // its index document goes too
		if err := markUnindexed(tx, IndexKey{IndexSession, sm.Key}, sm.UID); err != nil {
			return nil, nil, 0, err
		}
	}
	if err := tx.Bucket(bClaims).Delete(claimKey(sm.Name, sm.SHA256)); err != nil {
		return nil, nil, 0, err
	}
	if err := addMeta(tx, "sessions", -1); err != nil {
		return nil, nil, 0, err
	}
	return ids, files, freed, nil
}

// removeEmail deletes one email's entries (metadata, listing, archive
// references, submission states); it returns the files to delete and the
// bytes freed.
func removeEmail(s *Store, tx *bolt.Tx, em *EmailMeta) ([]string, int64, error) {
	id := em.ID
	files := []string{em.EML, em.Record}
	freed := em.Bytes
	for _, sha1 := range em.Archive {
		ab := tx.Bucket(bArchive)
		n := u64(ab.Get([]byte(sha1))) - 1
		if n <= 0 {
			if err := ab.Delete([]byte(sha1)); err != nil {
				return nil, 0, err
			}
			files = append(files, ArchiveRel(sha1))
			freed += archiveSize(s, sha1)
		} else if err := ab.Put([]byte(sha1), putU64(n)); err != nil {
			return nil, 0, err
		}
	}
	subs, err := subsOf(tx, id)
	if err != nil {
		return nil, 0, err
	}
	for _, st := range subs {
		if err := addCount(tx, countKey(st.Group, st.State), -1); err != nil {
			return nil, 0, err
		}
		if err := tx.Bucket(bSubs).Delete(subKey(id, st.Group)); err != nil {
			return nil, 0, err
		}
	}
	if err := tx.Bucket(bEmailOrder).Delete(timeKey(em.Time, id)); err != nil {
		return nil, 0, err
	}
	if err := tx.Bucket(bEmails).Delete([]byte(id)); err != nil {
		return nil, 0, err
	}
	if err := markEmail(tx, id); err != nil {
		return nil, 0, err
	}
	if err := addMeta(tx, "emails", -1); err != nil {
		return nil, 0, err
	}
	return files, freed, nil
}

// rawRetentionBatch bounds the raw emails removed per transaction.
const rawRetentionBatch = 200

// applyRawRetention removes raw emails (Maildir/.eml input: no session),
// oldest first by arrival, while they are older than max_age or the store
// is larger than max_size (after the session pass). Emails still queued
// or retrying are kept.
func applyRawRetention(s *Store, now time.Time, rc RetentionConfig, res *RetentionResult) ([]string, error) {
	var removedIDs []string
	for {
		var files []string
		removed := 0
		err := s.db.b.Update(func(tx *bolt.Tx) error {
			total := metaCount(tx, "bytes")
			oc := tx.Bucket(bEmailOrder).Cursor()
			var victims []*EmailMeta
			for k, _ := oc.First(); k != nil && len(victims) < rawRetentionBatch; k, _ = oc.Next() {
				if len(k) < 8 {
					continue
				}
				var em EmailMeta
				ok, err := getJSON(tx.Bucket(bEmails), k[8:], &em)
				if err != nil {
					return err
				}
				if !ok || em.Session != "" {
					continue
				}
				tooOld := rc.MaxAge > 0 && now.Sub(em.Time) > rc.MaxAge.D()
				tooBig := rc.MaxSize > 0 && total > int64(rc.MaxSize)
				if !tooOld && !tooBig {
					break // oldest first
				}
				if queuedAny(tx, []string{em.ID}) {
					res.Kept++
					continue
				}
				victims = append(victims, &em)
				total -= em.Bytes
			}
			for _, em := range victims {
				f, freed, err := removeEmail(s, tx, em)
				if err != nil {
					return err
				}
				if err := addMeta(tx, "bytes", -freed); err != nil {
					return err
				}
				files = append(files, f...)
				removedIDs = append(removedIDs, em.ID)
				res.Emails++
				res.Bytes += freed
				removed++
			}
			return addMeta(tx, "removed", int64(len(victims)))
		})
		if err != nil {
			return removedIDs, err
		}
		for _, p := range files {
			if err := os.Remove(s.Path(p)); err != nil && !errors.Is(err, os.ErrNotExist) {
				s.recordError("retention", err)
			}
			pruneEmptyDirs(s.dir, filepath.Dir(s.Path(p)))
		}
		if removed < rawRetentionBatch {
			return removedIDs, nil
		}
	}
}

// archiveSize is the size of an archived attachment (0 if missing).
func archiveSize(s *Store, sha1 string) int64 {
	fi, err := os.Stat(s.Path(ArchiveRel(sha1)))
	if err != nil {
		return 0
	}
	return fi.Size()
}

// pruneEmptyDirs removes empty day/archive directories up to the data dir.
func pruneEmptyDirs(root, dir string) {
	root = filepath.Clean(root)
	for d := filepath.Clean(dir); len(d) > len(root) && d != root; d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			return
		}
	}
}
