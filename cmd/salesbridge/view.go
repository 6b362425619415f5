package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/salesbridge/salesbridge/bridge"
	"github.com/salesbridge/salesbridge/salesapi"
)

// viewEvent is the part of an event the live view prints. It shows no
// personal data: ids, statuses, prices and field names only.
type viewEvent struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Subject  string `json:"subject"`
	Time     string `json:"time"`
	CausedBy string `json:"causedby"`
	Data     struct {
		From          *int   `json:"from"`
		To            *int   `json:"to"`
		Price         *int64 `json:"price"`
		PreviousPrice *int64 `json:"previousPrice"`
		Changes       []struct {
			Field string `json:"field"`
		} `json:"changes"`
		Order struct {
			Number string `json:"number"`
			Status int    `json:"status"`
			Price  int64  `json:"price"`
			Object struct {
				Name string `json:"name"`
			} `json:"object"`
		} `json:"order"`
		Error *struct {
			Code string `json:"code"`
		} `json:"error"`
	} `json:"data"`
}

// watchEvents prints every event of the events stream as JetStream delivers
// it, until ctx ends. It waits for the stream to exist.
func watchEvents(ctx context.Context, nc *nats.Conn, n bridge.Names, w io.Writer) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	var cons jetstream.Consumer
	for {
		cons, err = js.OrderedConsumer(ctx, n.EventsStream, jetstream.OrderedConsumerConfig{})
		if err == nil {
			break
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("watch events: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		fmt.Fprintln(w, describeEvent(m.Data()))
	})
	if err != nil {
		return fmt.Errorf("watch events: %w", err)
	}
	<-ctx.Done()
	cc.Stop()
	return ctx.Err()
}

// describeEvent renders one event as a line of the live view.
func describeEvent(data []byte) string {
	var e viewEvent
	if err := json.Unmarshal(data, &e); err != nil {
		return "(unreadable event)"
	}
	at := e.Time
	if t, err := salesapi.ParseTime(e.Time); err == nil {
		at = t.Format("02.01 15:04:05")
	}
	o := e.Data.Order
	var detail string
	switch e.Type {
	case "order.snapshot", "order.created":
		detail = fmt.Sprintf("%-11s %s, %s ₽", salesapi.Status(o.Status), o.Object.Name, roubles(o.Price))
	case "order.status_changed":
		if e.Data.From != nil && e.Data.To != nil {
			detail = fmt.Sprintf("%s → %s", salesapi.Status(*e.Data.From), salesapi.Status(*e.Data.To))
		}
	case "order.price_changed":
		if e.Data.Price != nil {
			detail = roubles(*e.Data.Price) + " ₽"
			if e.Data.PreviousPrice != nil {
				detail = roubles(*e.Data.PreviousPrice) + " → " + detail
			}
		}
	case "order.updated":
		fields := make([]string, 0, len(e.Data.Changes))
		for _, c := range e.Data.Changes {
			fields = append(fields, c.Field)
		}
		detail = "changed: " + strings.Join(fields, ", ")
	case "command.succeeded", "command.failed":
		detail = "command " + e.Subject
		if e.Data.Error != nil {
			detail += ": " + e.Data.Error.Code
		}
		return fmt.Sprintf("%s  %-22s %s", at, e.Type, detail)
	}
	if e.CausedBy != "" {
		detail += "  (command " + e.CausedBy + ")"
	}
	return fmt.Sprintf("%s  %-22s #%-6s %-10s %s", at, e.Type, e.Subject, o.Number, detail)
}

// roubles writes n with thin spaces between thousands: 6 100 000.
func roubles(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteRune(' ')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
