package index

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/smtpscope/smtpscope/core"
)

// applyBenchDocs are the documents of BenchmarkIndexApply: the email
// records of SMTPSCOPE_BENCH_RECORDS (JSON Lines, as `smtpscope parse`
// prints them) when set, else 3,000 generated emails.
func applyBenchDocs(b *testing.B) []Doc {
	path := os.Getenv("SMTPSCOPE_BENCH_RECORDS")
	if path == "" {
		gen := newCorpusGen(45)
		docs := make([]Doc, 3000)
		for i := range docs {
			d := gen.email(i)
			docs[i] = Doc{Email: &d}
		}
		return docs
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var docs []Doc
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 256<<20)
	for sc.Scan() {
		var e core.Email
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			b.Fatal(err)
		}
		docs = append(docs, Doc{Email: &EmailDoc{Email: &e}})
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	return docs
}

// BenchmarkIndexApply: the live path of the collector's daemon: a fresh
// index fed with Apply in batches of 250 documents (SMTPSCOPE_BENCH_BATCH;
// what the daemon's batcher writes while a spool backlog is processed
// varies with the ingest rate), two at a time,
// until closed (on disk). Reports the CPU-seconds of the whole ingest
// (bleve's analysis, segment building, merging and persisting included)
// per 1,000 emails.
func BenchmarkIndexApply(b *testing.B) {
	docs := applyBenchDocs(b)
	batch := 250
	if v, err := strconv.Atoi(os.Getenv("SMTPSCOPE_BENCH_BATCH")); err == nil && v > 0 {
		batch = v
	}
	cpu, _ := timeFreshIndex(b, func(ix *Index) error {
		sem := make(chan struct{}, 2)
		errs := make(chan error, len(docs)/batch+1)
		for lo := 0; lo < len(docs); lo += batch {
			sem <- struct{}{}
			go func(part []Doc) {
				defer func() { <-sem }()
				errs <- ix.Apply(part, nil, nil)
			}(docs[lo:min(lo+batch, len(docs))])
		}
		for range cap(sem) {
			sem <- struct{}{}
		}
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	})
	b.ReportMetric(cpu.Seconds()*1000/float64(len(docs)*b.N), "cpu-s/1k-emails")
}

// BenchmarkTextAnalysis: the analysis of the text fields (subject, body,
// transcript, reason) of the documents of BenchmarkIndexApply, as bleve's
// analysis workers run it for a batch; one op analyzes them all.
func BenchmarkTextAnalysis(b *testing.B) {
	docs := applyBenchDocs(b)
	ix, err := Open(filepath.Join(b.TempDir(), "index"))
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	var fs []*termField
	size := 0
	for _, d := range docs {
		for _, f := range ix.build(d).finish().Fields {
			if tf, ok := f.(*termField); ok && !tf.keywords {
				fs = append(fs, tf)
				size += len(tf.value)
			}
		}
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, f := range fs {
			f.Analyze()
		}
	}
}
