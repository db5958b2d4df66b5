package collector

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// benchStoreEmails is the size of the store BenchmarkOpenStore opens:
// SMTPSCOPE_BENCH_EMAILS, default 220,000 (the CLI measure).
func benchStoreEmails() int {
	if n, err := strconv.Atoi(os.Getenv("SMTPSCOPE_BENCH_EMAILS")); err == nil && n > 0 {
		return n
	}
	if testing.Short() {
		return 5000
	}
	return 220000
}

// benchStoreDir is a data dir whose queue database holds n emails as the
// collector commits them (email and session metadata, listing orders, a
// claim, two groups' submission states, one queued); the .eml and record
// files are not written (opening the store does not read them). With
// SMTPSCOPE_BENCH_DIR it is DIR/store-N, kept for later runs.
func benchStoreDir(b *testing.B, n int) string {
	var dir string
	if root := os.Getenv("SMTPSCOPE_BENCH_DIR"); root != "" {
		dir = filepath.Join(root, fmt.Sprintf("store-%d", n))
		if _, err := os.Stat(filepath.Join(dir, "complete")); err == nil {
			return dir
		}
		_ = os.RemoveAll(dir)
	} else {
		dir = b.TempDir()
	}
	start := time.Now()
	fillStore(b, dir, n)
	b.Logf("filled a queue database with %d emails in %v", n, time.Since(start))
	if os.Getenv("SMTPSCOPE_BENCH_DIR") != "" {
		if err := os.WriteFile(filepath.Join(dir, "complete"), nil, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// fillStore creates the store of dir with n emails' metadata (see
// benchStoreDir).
func fillStore(b testing.TB, dir string, n int) {
	st, err := OpenStore(dir, StoreOptions{NoFsync: true})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for lo := 0; lo < n; lo += 1000 {
		err := st.db.b.Update(func(tx *bolt.Tx) error {
			for i := lo; i < min(lo+1000, n); i++ {
				tm := t0.Add(time.Duration(i) * 37 * time.Second)
				uid := fmt.Sprintf("C%08x%06d", uint32(i*2654435761), i)
				key := fmt.Sprintf("%s-%d.session", uid, i)
				em := &EmailMeta{ID: uid + ".0", Session: key, Time: tm, Stored: tm.Add(time.Second), SourceIP: "198.51.100.7",
					MailFrom: fmt.Sprintf("user%d@sender%d.example", i%300, i%2000), RcptCount: 1 + i%3,
					Subject: fmt.Sprintf("Invoice %d overdue", i), Size: int64(3000 + i%50000), SHA256: fmt.Sprintf("%064x", i),
					Attachments: i % 3, EML: "emails/2026/01/01/" + uid + ".0.eml", Record: "results/2026/01/01/" + uid + ".0.json", Bytes: 9000}
				sm := &SessionMeta{Key: key, Name: key, UID: uid, File: "sessions/2026/01/01/" + key, SHA256: fmt.Sprintf("%064x", i+1),
					Size: 4000, Time: tm, Stored: em.Stored, SourceIP: em.SourceIP, SourcePort: 40000 + i%20000, Helo: "mail.sender.example",
					Emails: []string{em.ID}, Bytes: 13000}
				if err := putJSON(tx.Bucket(bEmails), []byte(em.ID), em); err != nil {
					return err
				}
				if err := putJSON(tx.Bucket(bSessions), []byte(key), sm); err != nil {
					return err
				}
				if err := tx.Bucket(bEmailOrder).Put(timeKey(tm, em.ID), nil); err != nil {
					return err
				}
				if err := tx.Bucket(bSessionOrder).Put(timeKey(sm.Stored, key), nil); err != nil {
					return err
				}
				if err := tx.Bucket(bClaims).Put(claimKey(key, sm.SHA256), []byte(key)); err != nil {
					return err
				}
				for g, state := range map[string]string{"prod": StateSent, "lab": StateQueued} {
					if i%10 != 0 && g == "lab" {
						continue
					}
					s := &SubmissionStatus{EmailID: em.ID, Group: g, State: state, Queued: tm, Updated: tm, NextAttempt: tm}
					if err := setSub(tx, nil, s); err != nil {
						return err
					}
				}
			}
			return addMeta(tx, "emails", int64(min(lo+1000, n)-lo))
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := st.db.b.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkOpenStore: opening a data dir's store (and closing it) at
// benchStoreEmails emails, read-only as the CLI does and read-write as
// the daemon does; the size of the queue database.
func BenchmarkOpenStore(b *testing.B) {
	n := benchStoreEmails()
	dir := benchStoreDir(b, n)
	fi, err := os.Stat(filepath.Join(dir, DBFile))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		o    StoreOptions
	}{
		{"read-only", StoreOptions{ReadOnly: true}},
		{"read-write", StoreOptions{NoFsync: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				st, err := OpenStore(dir, c.o)
				if err != nil {
					b.Fatal(err)
				}
				if err := st.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(fi.Size())/(1<<20), "db-MiB")
		})
	}
}
