package salesapitest

import "github.com/salesbridge/salesbridge/salesapi"

// CanTransition reports whether an order in status from may move to status
// to. The spec names the statuses and who sets them but not the allowed
// moves; the sandbox enforces this machine:
//
//	NEW, UNPROCESSED -> PROGRESS, CONFIRMED, REFUSED, TERMINATED (customer)
//	PROGRESS         -> CONFIRMED, REFUSED, TERMINATED           (customer)
//	CONFIRMED        -> COMPLETE, TERMINATED                     (customer)
//	NEW, UNPROCESSED, PROGRESS, CONFIRMED -> CANCEL              (visitor)
//	NEW              -> UNPROCESSED, three days after creation   (system)
//
// COMPLETE, REFUSED, TERMINATED and CANCEL are final. REFUSED is "refused
// before CONFIRMED", so CONFIRMED cannot be refused, only terminated.
// Setting the current status again is not a transition (false here; the API
// answers it as a no-op).
func CanTransition(from, to salesapi.Status) bool {
	switch to {
	case salesapi.StatusCancel:
		return from.Active()
	case salesapi.StatusUnprocessed:
		return from == salesapi.StatusNew
	}
	switch from {
	case salesapi.StatusNew, salesapi.StatusUnprocessed:
		return to == salesapi.StatusProgress || to == salesapi.StatusConfirmed || to == salesapi.StatusRefused || to == salesapi.StatusTerminated
	case salesapi.StatusProgress:
		return to == salesapi.StatusConfirmed || to == salesapi.StatusRefused || to == salesapi.StatusTerminated
	case salesapi.StatusConfirmed:
		return to == salesapi.StatusComplete || to == salesapi.StatusTerminated
	}
	return false
}

// Final reports whether nothing can leave status s.
func Final(s salesapi.Status) bool {
	for _, to := range salesapi.Statuses() {
		if CanTransition(s, to) {
			return false
		}
	}
	return true
}

// setter is who sets status s: the system (NEW, UNPROCESSED), the visitor
// (CANCEL) or the customer's office.
func setter(s salesapi.Status) Actor {
	switch s {
	case salesapi.StatusNew, salesapi.StatusUnprocessed:
		return System
	case salesapi.StatusCancel:
		return Visitor
	}
	return Office
}
