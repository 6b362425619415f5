package bridge

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/salesbridge/salesbridge/diff"
	"github.com/salesbridge/salesbridge/salesapi"
	"github.com/salesbridge/salesbridge/state"
)

// Header names and values of every event message.
const (
	headerMsgID       = "Nats-Msg-Id"
	headerContentType = "Content-Type"
	contentTypeCE     = "application/cloudevents+json"
	dataSchemaPrefix  = "urn:salesbridge:v1:"
)

// cloudEvent is a CloudEvents 1.0 event in structured JSON mode.
type cloudEvent struct {
	SpecVersion     string `json:"specversion"`
	ID              string `json:"id"`
	Source          string `json:"source"`
	Type            string `json:"type"`
	Subject         string `json:"subject"`
	Time            string `json:"time"`
	DataContentType string `json:"datacontenttype"`
	DataSchema      string `json:"dataschema"`
	ObservedAt      string `json:"observedat"`
	CausedBy        string `json:"causedby,omitempty"`
	Data            any    `json:"data"`
}

type orderData struct {
	Order json.RawMessage `json:"order"`
}

type statusData struct {
	OrderID   int64           `json:"orderId"`
	ChangeID  int64           `json:"changeId"`
	From      int             `json:"from"`
	To        int             `json:"to"`
	FromName  string          `json:"fromName"`
	ToName    string          `json:"toName"`
	ChangedAt string          `json:"changedAt"`
	Order     json.RawMessage `json:"order"`
}

type priceData struct {
	OrderID       int64           `json:"orderId"`
	ChangeID      int64           `json:"changeId"`
	Price         int64           `json:"price"`
	PreviousPrice *int64          `json:"previousPrice"`
	ChangedAt     string          `json:"changedAt"`
	Order         json.RawMessage `json:"order"`
}

type updatedData struct {
	OrderID int64           `json:"orderId"`
	Changes []diff.Field    `json:"changes"`
	Order   json.RawMessage `json:"order"`
}

// events turns changes into outbox messages: one CloudEvent per change and,
// last, the order's new value for the orders KV bucket.
type events struct {
	prefix   string
	source   string
	pii      PII
	kvBucket string
}

// eventSubject is the subject of an event: <prefix>.order.<type>.<orderId>.
func (e events) eventSubject(t diff.Type, orderID int64) string {
	return e.prefix + ".order." + strings.TrimPrefix(string(t), "order.") + "." + strconv.FormatInt(orderID, 10)
}

// kvSubject is the subject a KV put of the order goes to.
func (e events) kvSubject(orderID int64) string {
	return "$KV." + e.kvBucket + "." + strconv.FormatInt(orderID, 10)
}

// messages builds the outbox messages for the changes of one order. cur is
// the order as the API gave it; rev is the store revision it becomes;
// observed is when the bridge saw it; causedBy names the command whose PATCH
// answered it, if any. It also returns the type of each event it built.
func (e events) messages(changes []diff.Change, cur *salesapi.Order, rev uint64, observed time.Time, causedBy string) ([]state.Message, []diff.Type, error) {
	order, err := e.pii.order(cur.Raw)
	if err != nil {
		return nil, nil, fmt.Errorf("order %d: %w", cur.ID, err)
	}
	msgs := make([]state.Message, 0, len(changes)+1)
	types := make([]diff.Type, 0, len(changes))
	for _, c := range changes {
		data, ok := e.data(c, order)
		if !ok {
			continue
		}
		at := c.At
		if at.IsZero() {
			at = observed
		}
		ev := cloudEvent{
			SpecVersion:     "1.0",
			ID:              c.ID,
			Source:          e.source,
			Type:            string(c.Type),
			Subject:         strconv.FormatInt(c.OrderID, 10),
			Time:            salesapi.FormatTime(at),
			DataContentType: "application/json",
			DataSchema:      dataSchemaPrefix + string(c.Type),
			ObservedAt:      salesapi.FormatTime(observed),
			CausedBy:        causedBy,
			Data:            data,
		}
		body, err := json.Marshal(ev)
		if err != nil {
			return nil, nil, fmt.Errorf("order %d: encode %s: %w", cur.ID, c.Type, err)
		}
		types = append(types, c.Type)
		msgs = append(msgs, state.Message{
			Subject: e.eventSubject(c.Type, c.OrderID),
			Header:  map[string]string{headerMsgID: c.ID, headerContentType: contentTypeCE},
			Data:    body,
		})
	}
	msgs = append(msgs, state.Message{
		Subject: e.kvSubject(cur.ID),
		Header:  map[string]string{headerMsgID: fmt.Sprintf("kv/%d/%d", cur.ID, rev)},
		Data:    order,
	})
	return msgs, types, nil
}

// data is the CloudEvent data of a change. It reports false when nothing of
// the change may leave the bridge (an update of personal data only, under
// PIIOmit).
func (e events) data(c diff.Change, order json.RawMessage) (any, bool) {
	switch c.Type {
	case diff.StatusChanged:
		s := c.Status
		return statusData{c.OrderID, s.ChangeID, int(s.From), int(s.To), s.From.String(), s.To.String(), salesapi.FormatTime(c.At), order}, true
	case diff.PriceChanged:
		p := c.Price
		return priceData{c.OrderID, p.ChangeID, p.Price, p.PreviousPrice, salesapi.FormatTime(c.At), order}, true
	case diff.Updated:
		fields := make([]diff.Field, 0, len(c.Fields))
		for _, f := range c.Fields {
			if isPII(f.Path) {
				if e.pii == PIIOmit {
					continue
				}
				f.Before, f.After = e.pii.value(f.Path, f.Before), e.pii.value(f.Path, f.After)
			}
			fields = append(fields, f)
		}
		if len(fields) == 0 {
			return nil, false
		}
		return updatedData{c.OrderID, fields, order}, true
	default: // Snapshot, Created
		return orderData{order}, true
	}
}
