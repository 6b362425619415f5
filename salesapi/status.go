package salesapi

import (
	"fmt"
	"strconv"
	"strings"
)

// Status is the state of an order (spec §6.4, table 6).
type Status int

// The statuses of the spec. PATCH may set StatusProgress to StatusTerminated
// only; the others are set by the system or by the site visitor.
const (
	StatusNew         Status = 0 // created by a site visitor
	StatusProgress    Status = 1 // being worked by the customer
	StatusConfirmed   Status = 2 // booking confirmed
	StatusComplete    Status = 3 // deal done
	StatusRefused     Status = 4 // refused before CONFIRMED
	StatusTerminated  Status = 5 // ended with refusal
	StatusCancel      Status = 6 // cancelled by the visitor
	StatusUnprocessed Status = 7 // still NEW three days after creation
)

var statusNames = [...]string{"NEW", "PROGRESS", "CONFIRMED", "COMPLETE", "REFUSED", "TERMINATED", "CANCEL", "UNPROCESSED"}

// Statuses lists every status of the spec in numeric order.
func Statuses() []Status {
	return []Status{StatusNew, StatusProgress, StatusConfirmed, StatusComplete, StatusRefused, StatusTerminated, StatusCancel, StatusUnprocessed}
}

// String returns the spec's name of s ("NEW" … "UNPROCESSED"), or
// "STATUS(n)" for a number the spec does not define.
func (s Status) String() string {
	if s.Valid() {
		return statusNames[s]
	}
	return "STATUS(" + strconv.Itoa(int(s)) + ")"
}

// Valid reports whether s is one of the eight statuses of the spec.
func (s Status) Valid() bool { return s >= StatusNew && s <= StatusUnprocessed }

// Settable reports whether a PATCH may set s (1 to 5).
func (s Status) Settable() bool { return s >= StatusProgress && s <= StatusTerminated }

// Active reports whether an order in status s is still being worked, so that
// it is likely to change again: NEW, PROGRESS, CONFIRMED and UNPROCESSED.
func (s Status) Active() bool {
	switch s {
	case StatusNew, StatusProgress, StatusConfirmed, StatusUnprocessed:
		return true
	}
	return false
}

// ParseStatus accepts a status by name (any case) or by number.
func ParseStatus(v string) (Status, error) {
	if n, err := strconv.Atoi(v); err == nil {
		if !Status(n).Valid() {
			return 0, fmt.Errorf("status %d out of range 0-7", n)
		}
		return Status(n), nil
	}
	for i, name := range statusNames {
		if strings.EqualFold(v, name) {
			return Status(i), nil
		}
	}
	return 0, fmt.Errorf("unknown status %q", v)
}
