package collector_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/smtpscope/smtpscope/collector"
)

// A UI runs the collector in-process: New, Subscribe, Run in the
// background, the Store for what it shows, Resubmit on request.
func Example() {
	cfg := &collector.Config{
		Spool: "/var/spool/smtpscope",
		Data:  "/var/lib/smtpscope",
		Groups: []collector.GroupConfig{{
			Name: "default", Coverage: 100, FullDelivery: true,
			Nodes: []string{"https://ace.example.org"},
		}},
	}
	col, err := collector.New(cfg, collector.Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		fmt.Println(err) // e.g. collector.ErrLocked: a headless collector owns the data dir
		return
	}
	events, stop := col.Subscribe(1024)
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = col.Run(ctx) }() // Run closes the store when ctx ends

	for ev := range events {
		switch ev.Type {
		case collector.EventEmail:
			fmt.Println("stored", ev.EmailID, ev.Email.Subject)
		case collector.EventSubmission:
			fmt.Println(ev.EmailID, ev.Submission.Group, ev.Submission.State, ev.Submission.UUID)
			if ev.Submission.State == collector.StateFailed {
				_, _ = col.Resubmit([]string{ev.EmailID}, ev.Submission.Group)
			}
		case collector.EventReview:
			fmt.Println("review/", ev.Review.Name, ev.Review.Reason)
		}
		raw, _ := col.Store().Raw(ev.EmailID) // exact bytes; Record, SessionFile, Attachment, Submissions too
		_ = raw
	}
}
