package collector

// Repair rebuilds the queue database from the store: the records
// (results/**.json) and their .eml files are the truth. Every stored email
// is queued again for every given group that covers it, unless the old
// database, read as far as it can be, knows it as sent to that group: ACE
// may receive duplicates, never fewer emails.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/smtpscope/smtpscope/collector/internal/atomicfile"
	"github.com/smtpscope/smtpscope/core"
	bolt "go.etcd.io/bbolt"
)

// RepairReport says what Repair did.
type RepairReport struct {
	Emails   int      // stored emails put back in the database
	Sessions int      // stored sessions their records name
	Queued   int      // (email, group) entries queued
	Sent     int      // (email, group) entries kept as sent (known from the old database)
	Groups   []string // the groups queued to
	Skipped  []string // records that could not be used, and why
	Damaged  string   // where the old database was moved ("" when there was none)
}

// Repair rebuilds DATA/queue.db from the stored records and emails. The
// old file, if any, is kept as queue.db.damaged-<UTC time>. groups are
// the node groups to queue to (disabled ones are skipped); without any,
// the groups the old database names are used, else one named "default"
// (the group --ace makes). It fails with ErrLocked while a collector
// holds the data dir.
func Repair(dir string, groups []GroupConfig, now time.Time) (*RepairReport, error) {
	path := filepath.Join(dir, DBFile)
	unlock, err := lockFile(path)
	if err != nil {
		return nil, err
	}
	defer unlock()
	sent, oldGroups := salvageSent(path)
	groups = repairGroups(groups, oldGroups)
	tmp := path + ".repair-tmp"
	_ = os.Remove(tmp)
	rep := &RepairReport{}
	for _, g := range groups {
		rep.Groups = append(rep.Groups, g.Name)
	}
	if err := rebuild(dir, tmp, groups, sent, now, rep); err != nil {
		_ = os.Remove(tmp)
		return nil, err
	}
	if _, err := os.Lstat(path); err == nil {
		rep.Damaged = path + ".damaged-" + now.UTC().Format("20060102T150405Z")
		if err := os.Rename(path, rep.Damaged); err != nil {
			return nil, err
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	return rep, syncDir(dir)
}

// lockFile takes the lock a collector takes on the queue database (bbolt
// flocks the file), so that repair never runs beside one.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", path, ErrLocked)
		}
		return nil, err
	}
	return func() { f.Close() }, nil
}

func repairGroups(groups []GroupConfig, old []string) []GroupConfig {
	var out []GroupConfig
	for _, g := range groups {
		if g.IsEnabled() {
			out = append(out, g)
		}
	}
	if len(groups) > 0 {
		return out
	}
	for _, n := range old {
		out = append(out, GroupConfig{Name: n, Coverage: 100})
	}
	if len(out) == 0 {
		out = []GroupConfig{{Name: "default", Coverage: 100}}
	}
	return out
}

// salvageSent reads what it can of the submission states of a (damaged)
// queue database: the sent ones, and the group names. A truncated file is
// read from a copy padded to the size its meta page names, so bbolt never
// maps beyond the end; whatever panics is where reading stops.
func salvageSent(path string) (map[string]SubmissionStatus, []string) {
	sent := map[string]SubmissionStatus{}
	groups := map[string]bool{}
	copyPath := path + ".salvage-tmp"
	defer os.Remove(copyPath)
	if err := paddedCopy(path, copyPath); err != nil {
		return sent, nil
	}
	func() {
		defer func() { _ = recover() }()
		b, err := bolt.Open(copyPath, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			return
		}
		defer b.Close()
		_ = b.View(func(tx *bolt.Tx) error {
			sb := tx.Bucket(bSubs)
			if sb == nil {
				return nil
			}
			return sb.ForEach(func(k, v []byte) error {
				var st SubmissionStatus
				if json.Unmarshal(v, &st) == nil && st.Group != "" {
					groups[st.Group] = true
					if st.State == StateSent {
						sent[string(subKey(st.EmailID, st.Group))] = st
					}
				}
				return nil
			})
		})
	}()
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names)
	return sent, names
}

// paddedCopy copies src to dst, extended with zeros to the size the meta
// page names (a sparse file: nothing is allocated).
func paddedCopy(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	m, ok := currentMeta(in)
	if !ok {
		return errors.New("no valid meta page")
	}
	out, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	n, err := io.Copy(out, in)
	if err != nil {
		return err
	}
	if need := m.pgid * uint64(m.pageSize); need > uint64(n) && need < 1<<40 {
		return out.Truncate(int64(need))
	}
	return nil
}

// rebuild writes a new queue database at tmp from the records under
// DATA/results.
func rebuild(dir, tmp string, groups []GroupConfig, sent map[string]SubmissionStatus, now time.Time, rep *RepairReport) error {
	d, err := openDB(tmp, false, time.Second)
	if err != nil {
		return err
	}
	defer d.close()
	d.b.NoSync = true // one fsync at the end
	sessions := map[string]*SessionMeta{}
	root := filepath.Join(dir, ResultsDir)
	walkErr := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == root && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !e.Type().IsRegular() || !strings.HasSuffix(p, ".json") || atomicfile.IsTemp(e.Name()) {
			return nil
		}
		em, rec, why := readStored(dir, p)
		if why != "" {
			rep.Skipped = append(rep.Skipped, why)
			return nil
		}
		return d.b.Update(func(tx *bolt.Tx) error {
			return repairEmail(tx, dir, em, rec, groups, sent, sessions, now, rep)
		})
	})
	if walkErr != nil {
		return walkErr
	}
	err = d.b.Update(func(tx *bolt.Tx) error { return repairSessions(tx, dir, sessions, rep) })
	if err != nil {
		return err
	}
	return d.b.Sync()
}

// readStored reads one record and checks its .eml; why says what is
// wrong when it cannot be used.
func readStored(dir, recPath string) (*EmailMeta, *core.Email, string) {
	resRel, _ := filepath.Rel(dir, recPath)
	resRel = filepath.ToSlash(resRel)
	b, err := os.ReadFile(recPath)
	var rec core.Email
	if err == nil {
		err = json.Unmarshal(b, &rec)
	}
	if err == nil && rec.ID == "" {
		err = errors.New("no id")
	}
	if err != nil {
		return nil, nil, fmt.Sprintf("%s: %v", recPath, err)
	}
	emlRel := EmailsDir + strings.TrimSuffix(strings.TrimPrefix(resRel, ResultsDir), ".json") + ".eml"
	eml, err := os.Stat(filepath.Join(dir, filepath.FromSlash(emlRel)))
	if err != nil {
		return nil, nil, fmt.Sprintf("%s: its email: %v", recPath, err)
	}
	fi, _ := os.Stat(recPath)
	key := ""
	if f := rec.Session.File; strings.HasPrefix(f, SessionsDir+"/") {
		key = filepath.Base(f)
	}
	em := emailMeta(&rec, key, emlRel, resRel, fi.ModTime().UTC())
	em.Size, em.Bytes = eml.Size(), eml.Size()+fi.Size()
	for _, a := range rec.Attachments {
		if validSHA1(a.SHA1) && !containsStr(em.Archive, a.SHA1) {
			if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(ArchiveRel(a.SHA1)))); err == nil {
				em.Archive = append(em.Archive, a.SHA1)
			}
		}
	}
	return em, &rec, ""
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// repairEmail puts one stored email back: metadata, listing order,
// archive references, its session, and its queue entries.
func repairEmail(tx *bolt.Tx, dir string, em *EmailMeta, rec *core.Email, groups []GroupConfig,
	sent map[string]SubmissionStatus, sessions map[string]*SessionMeta, now time.Time, rep *RepairReport) error {
	if tx.Bucket(bEmails).Get([]byte(em.ID)) != nil {
		rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s: email id %q stored twice; the first one kept", em.Record, em.ID))
		return nil
	}
	if err := putJSON(tx.Bucket(bEmails), []byte(em.ID), em); err != nil {
		return err
	}
	if err := tx.Bucket(bEmailOrder).Put(timeKey(em.Time, em.ID), nil); err != nil {
		return err
	}
	for _, sha1 := range em.Archive {
		ab := tx.Bucket(bArchive)
		if err := ab.Put([]byte(sha1), putU64(u64(ab.Get([]byte(sha1)))+1)); err != nil {
			return err
		}
	}
	if err := errors.Join(addMeta(tx, "emails", 1), addMeta(tx, "bytes", em.Bytes)); err != nil {
		return err
	}
	rep.Emails++
	if em.Session != "" {
		sm := sessions[em.Session]
		if sm == nil {
			sm = &SessionMeta{Key: em.Session, Name: em.Session, UID: rec.Session.UID, Sensor: rec.Sensor, File: rec.Session.File,
				Time: rec.Session.Time, TimeSource: rec.Session.TimeSource, Stored: em.Stored,
				SourceIP: rec.Session.SourceIP, SourcePort: rec.Session.SourcePort, DestIP: rec.Session.DestIP,
				DestPort: rec.Session.DestPort, Helo: rec.Session.Helo}
			sessions[em.Session] = sm
		}
		sm.Emails = append(sm.Emails, em.ID)
		sm.Bytes += em.Bytes
	}
	for _, g := range groups {
		if !covers(g.Name, g.Coverage, em.ID) {
			continue
		}
		st, ok := sent[string(subKey(em.ID, g.Name))]
		if !ok && g.HuntsOnly {
			continue // hunts queue to it; their matches are not rebuilt
		}
		if ok {
			rep.Sent++
		} else {
			st = SubmissionStatus{EmailID: em.ID, Group: g.Name, State: StateQueued, Queued: now, Updated: now, NextAttempt: now}
			rep.Queued++
		}
		if err := setSub(tx, nil, &st); err != nil {
			return err
		}
	}
	return nil
}

// repairSessions stores the sessions the records name whose files exist.
func repairSessions(tx *bolt.Tx, dir string, sessions map[string]*SessionMeta, rep *RepairReport) error {
	for key, sm := range sessions {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(sm.File)))
		if err != nil {
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("session %s: %v (its emails are kept)", key, err))
			continue
		}
		sum := sha256.Sum256(b)
		sm.SHA256, sm.Size = hex.EncodeToString(sum[:]), int64(len(b))
		sm.Bytes += sm.Size
		if err := putJSON(tx.Bucket(bSessions), []byte(key), sm); err != nil {
			return err
		}
		if err := tx.Bucket(bSessionOrder).Put(timeKey(sm.Stored, key), nil); err != nil {
			return err
		}
		if err := errors.Join(addMeta(tx, "sessions", 1), addMeta(tx, "bytes", sm.Size)); err != nil {
			return err
		}
		rep.Sessions++
	}
	return nil
}
