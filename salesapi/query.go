package salesapi

import (
	"errors"
	"fmt"
	"net/url"
	"time"
	"unicode/utf8"
)

// Limits of the API (spec §5.4.1, §6.2).
const (
	MaxLimit        = 100  // orders per list call
	MaxCommentRunes = 1000 // characters in a PATCH comment
	DefaultRate     = 10   // calls per minute per account, GET and PATCH together
)

// ErrInvalid is wrapped by every error about a request that is refused
// locally, before it spends a call.
var ErrInvalid = errors.New("invalid request")

// Query selects orders for ListOrders (spec §6.1). Zero fields are left out
// of the request, so the server's defaults apply (the last 24 hours, 100
// orders, all OGRNs of the contract, every status).
type Query struct {
	BeginCreatedAt time.Time // orders created at or after it
	Limit          int       // 1 to MaxLimit; 0 means the server's default (100)
	OGRN           []string  // developers to filter by; each must be in the contract
	Status         *Status   // one status to filter by
}

// Validate checks q against the spec's limits.
func (q Query) Validate() error {
	if q.Limit < 0 || q.Limit > MaxLimit {
		return fmt.Errorf("%w: limit %d outside 1-%d", ErrInvalid, q.Limit, MaxLimit)
	}
	if q.Status != nil && !q.Status.Valid() {
		return fmt.Errorf("%w: status %d outside 0-7", ErrInvalid, int(*q.Status))
	}
	for _, o := range q.OGRN {
		if !validOGRN(o) {
			return fmt.Errorf("%w: ogrn %q is not 13 or 15 digits", ErrInvalid, o)
		}
	}
	return nil
}

// Values encodes q as the query string of GET /external/orders. Several OGRNs
// are sent as repeated ogrn parameters.
func (q Query) Values() url.Values {
	v := url.Values{}
	if !q.BeginCreatedAt.IsZero() {
		v.Set("beginCreatedAt", FormatTime(q.BeginCreatedAt))
	}
	if q.Limit > 0 {
		v.Set("limit", fmt.Sprint(q.Limit))
	}
	for _, o := range q.OGRN {
		v.Add("ogrn", o)
	}
	if q.Status != nil {
		v.Set("status", fmt.Sprint(int(*q.Status)))
	}
	return v
}

// validOGRN accepts the 13-digit OGRN of a company and the 15-digit OGRNIP of
// an individual entrepreneur.
func validOGRN(s string) bool {
	if len(s) != 13 && len(s) != 15 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Patch is the body of PATCH /external/order/{id} (spec §6.2). Nil fields are
// left out and not changed.
type Patch struct {
	Status     *Status `json:"status,omitempty"`     // 1 to 5
	FinalPrice *int64  `json:"finalPrice,omitempty"` // roubles, ≥ 0
	Comment    *string `json:"comment,omitempty"`    // at most MaxCommentRunes characters
}

// Validate checks p against the spec: at least one field, status 1 to 5, a
// final price that is not negative, a comment of at most 1000 characters
// (Unicode characters, not bytes).
func (p Patch) Validate() error {
	if p.Status == nil && p.FinalPrice == nil && p.Comment == nil {
		return fmt.Errorf("%w: empty patch: set at least one of status, finalPrice, comment", ErrInvalid)
	}
	if p.Status != nil && !p.Status.Settable() {
		return fmt.Errorf("%w: status %d outside 1-5", ErrInvalid, int(*p.Status))
	}
	if p.FinalPrice != nil && *p.FinalPrice < 0 {
		return fmt.Errorf("%w: finalPrice %d is negative", ErrInvalid, *p.FinalPrice)
	}
	if p.Comment != nil {
		if !utf8.ValidString(*p.Comment) {
			return fmt.Errorf("%w: comment is not valid UTF-8", ErrInvalid)
		}
		if n := utf8.RuneCountInString(*p.Comment); n > MaxCommentRunes {
			return fmt.Errorf("%w: comment has %d characters, at most %d allowed", ErrInvalid, n, MaxCommentRunes)
		}
	}
	return nil
}
