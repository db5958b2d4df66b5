package capture

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Evidence pcaps (live capture, Options.Evidence): every packet the
// kernel filter passed (TCP on the SMTP ports, and the IP fragments the
// decoder needs) is also written, as captured, to pcap files in a
// directory, rotated by size and age, the oldest removed beyond a count.
// Each session file names the file(s) its packets are in (@pcap), so an
// email leads to its packets (`smtpscope show ID --pcap`).

// Evidence configures the evidence pcaps of a live capture.
type Evidence struct {
	// Dir receives the files, smtp-YYYYMMDDTHHMMSSZ.pcap named after the
	// UTC time of their first packet (-2, -3, … when a name is taken).
	Dir string
	// MaxSize starts a new file once one reaches this many bytes
	// (default DefaultPcapMaxSize).
	MaxSize int64
	// MaxAge starts a new file at the first packet this long after a
	// file's first packet (default DefaultPcapMaxAge).
	MaxAge time.Duration
	// Keep is how many files are kept: when a new one starts, the oldest
	// of those this capture wrote beyond Keep are removed; 0 keeps all.
	Keep int
}

// Defaults of Evidence.
const (
	DefaultPcapMaxSize = 100 << 20
	DefaultPcapMaxAge  = time.Hour
	EvidencePrefix     = "smtp-"
)

// evidence writes the evidence pcaps. It is used from the engine's
// goroutine only.
type evidence struct {
	cfg   Evidence
	lt    layers.LinkType
	f     *os.File
	buf   *bufio.Writer // 1 MiB: a packet costs no system call
	w     *pcapgo.Writer
	size  int64
	first time.Time // first packet of the current file
	names []string  // every file written, in order; the last is open
}

func newEvidence(cfg Evidence, lt layers.LinkType) (*evidence, error) {
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultPcapMaxSize
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultPcapMaxAge
	}
	if cfg.Keep < 0 {
		cfg.Keep = 0
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("capture: evidence pcaps: %w", err)
	}
	dir, err := filepath.Abs(cfg.Dir) // session files name the files by absolute path
	if err != nil {
		return nil, fmt.Errorf("capture: evidence pcaps: %w", err)
	}
	cfg.Dir = dir
	return &evidence{cfg: cfg, lt: lt}, nil
}

// seq is the index of the current file in names (-1 before the first).
func (v *evidence) seq() int { return len(v.names) - 1 }

// namesFrom lists the paths of the files from index a to b (those a
// session's packets went to), leaving out removed ones.
func (v *evidence) namesFrom(a, b int) []string {
	if a < 0 {
		a = 0
	}
	if b >= len(v.names) {
		b = len(v.names) - 1
	}
	var out []string
	for i := a; i <= b; i++ {
		if v.names[i] != "" { // "" once removed (Keep)
			out = append(out, filepath.Join(v.cfg.Dir, v.names[i]))
		}
	}
	return out
}

// write appends one packet, starting a new file first when the current
// one is full or old.
func (v *evidence) write(data []byte, ci gopacket.CaptureInfo) error {
	if v.f == nil || v.size >= v.cfg.MaxSize || ci.Timestamp.Sub(v.first) >= v.cfg.MaxAge {
		if err := v.rotate(ci.Timestamp); err != nil {
			return err
		}
	}
	ci.CaptureLength = len(data)
	if ci.Length < len(data) {
		ci.Length = len(data)
	}
	// A packet that does not fit what is left of the buffer goes after
	// a flush, not split by one: the file on disk always ends with a
	// whole packet, so the open file can be read (show --pcap, the UI's
	// export) while the capture still writes it.
	if v.buf.Available() < 16+len(data) {
		if err := v.buf.Flush(); err != nil {
			return fmt.Errorf("capture: evidence pcap %s: %w", v.path(), err)
		}
	}
	if err := v.w.WritePacket(ci, data); err != nil {
		return fmt.Errorf("capture: evidence pcap %s: %w", v.path(), err)
	}
	v.size += 16 + int64(len(data))
	return nil
}

func (v *evidence) path() string { return filepath.Join(v.cfg.Dir, v.names[len(v.names)-1]) }

// rotate closes (fsyncs) the current file and starts one named after t.
func (v *evidence) rotate(t time.Time) error {
	if err := v.close(); err != nil {
		return err
	}
	if t.Before(v.first) {
		t = v.first // packets of several interfaces: names stay in order
	}
	base := EvidencePrefix + t.UTC().Format("20060102T150405Z")
	var f *os.File
	var name string
	for i := 1; ; i++ {
		name = base + ".pcap"
		if i > 1 {
			name = fmt.Sprintf("%s-%d.pcap", base, i)
		}
		var err error
		f, err = os.OpenFile(filepath.Join(v.cfg.Dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) || i >= 1000 {
			return fmt.Errorf("capture: evidence pcap: %w", err)
		}
	}
	buf := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriterNanos(buf)
	if err := w.WriteFileHeader(1<<16, v.lt); err != nil {
		f.Close()
		return fmt.Errorf("capture: evidence pcap %s: %w", name, err)
	}
	v.f, v.buf, v.w, v.size, v.first = f, buf, w, 24, t
	v.names = append(v.names, name)
	if v.cfg.Keep > 0 && len(v.names) > v.cfg.Keep {
		for _, old := range v.names[:len(v.names)-v.cfg.Keep] {
			if old == "" {
				continue
			}
			_ = os.Remove(filepath.Join(v.cfg.Dir, old))
		}
		for i := range v.names[:len(v.names)-v.cfg.Keep] {
			v.names[i] = "" // removed: no session names it any more
		}
	}
	return nil
}

// flush hands the buffered packets to the file (every second of a live
// capture: the open file holds the packets up to the last second).
func (v *evidence) flush() error {
	if v.f == nil {
		return nil
	}
	if err := v.buf.Flush(); err != nil {
		return fmt.Errorf("capture: evidence pcap %s: %w", v.f.Name(), err)
	}
	return nil
}

// close makes the current file durable (fsync) and closes it.
func (v *evidence) close() error {
	if v.f == nil {
		return nil
	}
	f := v.f
	err := v.buf.Flush()
	v.f, v.buf, v.w = nil, nil, nil
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("capture: evidence pcap %s: %w", f.Name(), err)
	}
	return nil
}

// EvidenceFiles lists the evidence pcaps in dir, oldest first (by the
// time in the name, then the counter).
func EvidenceFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), EvidencePrefix) && strings.HasSuffix(e.Name(), ".pcap") {
			out = append(out, e.Name())
		}
	}
	sort.Slice(out, func(i, j int) bool {
		bi, ni := evidenceKey(out[i])
		bj, nj := evidenceKey(out[j])
		if bi != bj {
			return bi < bj
		}
		return ni < nj
	})
	return out, nil
}

// evidenceKey splits an evidence file name into its time and its counter
// (1 without one): smtp-20261207T160405Z-2.pcap comes after …Z.pcap.
func evidenceKey(name string) (string, int) {
	base := strings.TrimSuffix(name, ".pcap")
	if i := strings.LastIndexByte(base, '-'); i > len(EvidencePrefix) {
		if n, err := strconv.Atoi(base[i+1:]); err == nil {
			return base[:i], n
		}
	}
	return base, 1
}
