package ace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"os"
)

// Body is an encoded submission. Only the multipart headers and the
// analysis JSON are held in memory: the content of a File with a Path is
// read from its file each time the body is opened, so submitting a large
// email costs no copy of it. Length is exact, so the request carries a
// Content-Length (never chunked encoding, which ACE's Flask server may
// not accept).
type Body struct {
	ContentType string
	Length      int64
	parts       []bodyPart
}

// bodyPart is a run of encoded bytes, or the first size bytes of the
// file at path.
type bodyPart struct {
	data []byte
	path string
	size int64
}

// Encode builds the multipart body of s. The files with a Path must
// exist; their sizes are taken now, and a file whose size differs when
// the body is read fails that read.
func Encode(s *Submission) (*Body, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	js, err := json.Marshal(s.Analysis)
	if err != nil {
		return nil, err
	}
	if err := mw.WriteField("analysis", string(js)); err != nil {
		return nil, err
	}
	b := &Body{ContentType: mw.FormDataContentType()}
	for _, f := range s.Files {
		h := make(textproto.MIMEHeader)
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, f.Name))
		h.Set("Content-Type", "application/octet-stream")
		if _, err := mw.CreatePart(h); err != nil {
			return nil, err
		}
		content := bodyPart{data: f.Data, size: int64(len(f.Data))}
		if f.Path != "" {
			st, err := os.Stat(f.Path)
			if err != nil {
				return nil, err
			}
			content = bodyPart{path: f.Path, size: st.Size()}
		}
		b.add(bodyPart{data: bytes.Clone(buf.Bytes())})
		b.add(content)
		buf.Reset()
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	b.add(bodyPart{data: buf.Bytes()})
	return b, nil
}

func (b *Body) add(p bodyPart) {
	if p.path == "" {
		p.size = int64(len(p.data))
	}
	b.parts = append(b.parts, p)
	b.Length += p.size
}

// Open returns a new reader of the whole body; it opens each file when
// the reading reaches it, and Close closes what it opened.
func (b *Body) Open() io.ReadCloser {
	br := &bodyReader{}
	rs := make([]io.Reader, len(b.parts))
	for i, p := range b.parts {
		if p.path == "" {
			rs[i] = bytes.NewReader(p.data)
		} else {
			rs[i] = &fileReader{p: p, owner: br}
		}
	}
	br.r = io.MultiReader(rs...)
	return br
}

type bodyReader struct {
	r     io.Reader
	files []*os.File
}

func (r *bodyReader) Read(p []byte) (int, error) { return r.r.Read(p) }

func (r *bodyReader) Close() error {
	var errs []error
	for _, f := range r.files {
		errs = append(errs, f.Close())
	}
	r.files = nil
	return errors.Join(errs...)
}

// fileReader reads a file part: exactly its size, opened on first read.
type fileReader struct {
	p     bodyPart
	owner *bodyReader
	r     io.Reader
	left  int64
}

func (f *fileReader) Read(b []byte) (int, error) {
	if f.r == nil {
		if err := f.open(); err != nil {
			return 0, &bodyError{err}
		}
	}
	n, err := f.r.Read(b)
	f.left -= int64(n)
	if err == io.EOF && f.left > 0 {
		err = fmt.Errorf("%s: %d bytes short of its size when encoded: %w", f.p.path, f.left, io.ErrUnexpectedEOF)
	}
	if err != nil && err != io.EOF {
		err = &bodyError{err}
	}
	return n, err
}

// bodyError is a failure to read a file part (not the node's).
type bodyError struct{ err error }

func (e *bodyError) Error() string { return e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

func (f *fileReader) open() error {
	fh, err := os.Open(f.p.path)
	if err != nil {
		return err
	}
	f.owner.files = append(f.owner.files, fh)
	if st, err := fh.Stat(); err != nil || st.Size() != f.p.size {
		if err == nil {
			err = fmt.Errorf("%s: %d bytes, %d when the submission was encoded", f.p.path, st.Size(), f.p.size)
		}
		return err
	}
	f.r, f.left = io.LimitReader(fh, f.p.size), f.p.size
	return nil
}
