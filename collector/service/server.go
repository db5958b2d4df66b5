package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/smtpscope/smtpscope/collector/api"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Handler returns the HTTP handler of the API (see package api) over b.
func Handler(b api.Backend) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/search", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		o := api.SearchOptions{Sort: q.Get("sort"), Facets: q.Get("facets") == "1", Kind: q.Get("kind"), IDsOnly: q.Get("ids") == "1", AsYouType: q.Get("typing") == "1", Histogram: q.Get("histogram") == "1"}
		o.Limit, _ = strconv.Atoi(q.Get("limit"))
		if a := q["after"]; len(a) > 0 {
			o.After = a
		}
		res, err := b.Search(r.Context(), q.Get("q"), o)
		reply(w, res, err)
	})
	mux.HandleFunc("GET /v1/email/{id}", func(w http.ResponseWriter, r *http.Request) {
		e, err := b.Email(r.Context(), r.PathValue("id"))
		reply(w, e, err)
	})
	mux.HandleFunc("GET /v1/raw/{id}", func(w http.ResponseWriter, r *http.Request) {
		d, err := b.Raw(r.Context(), r.PathValue("id"))
		replyBytes(w, d, err)
	})
	mux.HandleFunc("GET /v1/session/{id...}", func(w http.ResponseWriter, r *http.Request) {
		s, err := b.Session(r.Context(), r.PathValue("id"))
		reply(w, s, err)
	})
	mux.HandleFunc("GET /v1/attachment/{id}/{sha1}", func(w http.ResponseWriter, r *http.Request) {
		d, err := b.Attachment(r.Context(), r.PathValue("id"), r.PathValue("sha1"))
		replyBytes(w, d, err)
	})
	mux.HandleFunc("GET /v1/pcap/{id}", func(w http.ResponseWriter, r *http.Request) {
		servePcap(w, r, b)
	})
	mux.HandleFunc("GET /v1/submissions/{id}", func(w http.ResponseWriter, r *http.Request) {
		s, err := b.Submissions(r.Context(), r.PathValue("id"))
		reply(w, s, err)
	})
	mux.HandleFunc("GET /v1/review/{name}", func(w http.ResponseWriter, r *http.Request) {
		rv, err := b.Review(r.Context(), r.PathValue("name"))
		reply(w, rv, err)
	})
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		st, err := b.Status(r.Context())
		if st != nil {
			st.Mode = "remote"
		}
		reply(w, st, err)
	})
	mux.HandleFunc("POST /v1/resubmit", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			IDs   []string `json:"ids"`
			Group string   `json:"group"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20)).Decode(&req); err != nil {
			writeErr(w, http.StatusBadRequest, api.ErrorBody{Error: "resubmit: bad request: " + err.Error()})
			return
		}
		n, err := b.Resubmit(r.Context(), req.IDs, req.Group)
		reply(w, map[string]int{"queued": n}, err)
	})
	mux.HandleFunc("POST /v1/pause", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Paused bool `json:"paused"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10)).Decode(&req); err != nil {
			writeErr(w, http.StatusBadRequest, api.ErrorBody{Error: "pause: bad request: " + err.Error()})
			return
		}
		reply(w, map[string]bool{"paused": req.Paused}, b.SetPaused(r.Context(), req.Paused))
	})
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		fl, ok := w.(http.Flusher)
		if !ok {
			writeErr(w, http.StatusInternalServerError, api.ErrorBody{Error: "streaming unsupported"})
			return
		}
		ch, err := b.Events(r.Context())
		if err != nil {
			reply(w, nil, err)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		fl.Flush()
		keep := time.NewTicker(15 * time.Second)
		defer keep.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-keep.C:
				if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
					return
				}
				fl.Flush()
			case ev, ok := <-ch:
				if !ok {
					return
				}
				data, _ := json.Marshal(ev)
				if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
					return
				}
				fl.Flush()
			}
		}
	})
	return mux
}

func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		var qe *api.QueryError
		switch {
		case errors.As(err, &qe):
			writeErr(w, http.StatusBadRequest, api.ErrorBody{Error: qe.Msg, Col: qe.Col, Query: true})
		case errors.Is(err, api.ErrNoEvidence):
			writeErr(w, http.StatusNotFound, api.ErrorBody{Error: err.Error(), NoEvidence: true})
		case errors.Is(err, api.ErrEvidenceGone):
			writeErr(w, http.StatusGone, api.ErrorBody{Error: err.Error(), EvidenceGone: true})
		case errors.Is(err, api.ErrNotFound):
			writeErr(w, http.StatusNotFound, api.ErrorBody{Error: err.Error(), NotFound: true})
		case errors.Is(err, api.ErrSortUnsupported):
			writeErr(w, http.StatusBadRequest, api.ErrorBody{Error: err.Error(), Sort: true})
		default:
			writeErr(w, http.StatusInternalServerError, api.ErrorBody{Error: err.Error()})
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func replyBytes(w http.ResponseWriter, d []byte, err error) {
	if err != nil {
		reply(w, nil, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(d)))
	_, _ = w.Write(d)
}

func writeErr(w http.ResponseWriter, code int, e api.ErrorBody) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(e)
}

// Serve serves the API of b on l until ctx ends. It is what a headless
// collector runs on DATA/run/smtpscope.sock (see Listen).
func Serve(ctx context.Context, l net.Listener, b api.Backend) error {
	srv := &http.Server{Handler: Handler(b), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
			_ = srv.Close()
		case <-done:
		}
	}()
	err := srv.Serve(l)
	close(done)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
