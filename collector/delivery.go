package collector

import (
	"context"
	"errors"
	"time"

	"github.com/smtpscope/smtpscope/collector/ace"
	"github.com/smtpscope/smtpscope/core"
)

// deliverer is how one group's queue entries reach their target, one
// implementation per group kind: ACE node groups (aceDelivery,
// submit_ace.go) and NATS JetStream (natsDelivery, nats.go). The group
// runner (submit.go) owns everything else, the same for every kind:
// which entries are due, concurrency, the per-entry backoff, the states
// (queued, retrying, sent, failed), their commit after the attempt (so a
// crash between delivery and commit delivers again, never loses) and the
// status report.
type deliverer interface {
	// monitor watches the endpoints' health until ctx is done (ACE:
	// pings and probes); it calls the runner's wake when one comes back.
	monitor(ctx context.Context)
	// ready reports whether an attempt may be made now. While it is
	// false nothing is dispatched and no entry is charged an attempt.
	ready() bool
	// deliver makes one attempt at delivering email id. skipped: no
	// endpoint could be asked (all went down meanwhile), the entry is
	// left as it was. receipt is kept with a sent entry (ACE: the alert
	// uuid); endpoint names who was asked ("" when the email could not
	// be read, so nobody was).
	deliver(id string) (d delivery, err error)
	// permanent reports whether err will not change by retrying.
	permanent(err error) bool
	// retryAfter is the wait err asks for (0: none).
	retryAfter(err error) time.Duration
	// refused reports whether err is an endpoint's answer refusing the
	// email (not an endpoint down): such errors are noted in the error
	// list once a minute while they repeat.
	refused(err error) bool
	// status reports the endpoints' health for status displays.
	status() []NodeStatus
	// close releases what monitor opened; run calls it once no attempt
	// is in flight.
	close()
}

// delivery is the outcome of one deliver call that did not fail.
type delivery struct {
	skipped  bool
	receipt  string
	endpoint string
}

// deliverable reads what every delivery kind sends of a stored email: its
// record and its metadata. A failure is a delivery error, permanent when
// the email is gone from the store.
func (s *Store) deliverable(id string) (*core.Email, *EmailMeta, error) {
	rec, err := s.Record(id)
	if err != nil {
		return nil, nil, &ace.Error{Message: "reading record: " + err.Error(), Permanent: errors.Is(err, ErrNotFound)}
	}
	m, err := s.Email(id)
	if err != nil {
		return nil, nil, &ace.Error{Message: "reading email: " + err.Error(), Permanent: errors.Is(err, ErrNotFound)}
	}
	return rec, m, nil
}
