package collector

import "github.com/smtpscope/smtpscope/collector/api"

// The plain data types of the collector's state live in collector/api,
// which imports no database, so that clients of the service (the UI)
// can share them; these aliases keep their collector names.
type (
	SubmissionStatus = api.SubmissionStatus
	ReviewEntry      = api.ReviewEntry
	ErrorEntry       = api.ErrorEntry
	Status           = api.CollectorStatus
	CaptureStatus    = api.CaptureStatus
	CaptureInterface = api.CaptureInterface
	GroupStatus      = api.GroupStatus
	NodeStatus       = api.NodeStatus
	ReconcileStatus  = api.ReconcileStatus
	StoreStats       = api.StoreStats
	HuntStatus       = api.HuntStatus
)

// Submission states, per email per node group (see api.States).
const (
	StateQueued   = api.StateQueued
	StateRetrying = api.StateRetrying
	StateSent     = api.StateSent
	StateFailed   = api.StateFailed
)

// States lists the submission states in display order.
var States = api.States
