package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/salesbridge/salesbridge/clock"
	"github.com/salesbridge/salesbridge/state"
)

// relay moves the outbox to JetStream in outbox order. A message leaves the
// outbox only after JetStream acknowledged it; after any failure everything
// not acknowledged is published again, and the Nats-Msg-Id of each message
// makes JetStream drop what it already holds.
type relay struct {
	store  *state.Store
	js     jetstream.JetStream
	clk    clock.Clock
	log    *zap.Logger
	prefix string        // the subject prefix, for the ordering keys
	batch  int           // messages read from the outbox at a time
	flush  time.Duration // how long a stopping relay keeps publishing
	health *health
	// recover is called after a publish failure that suggests the streams
	// are gone (a NATS server that lost its store); it recreates them.
	recover func(context.Context) error
}

// Relay defaults.
const (
	DefaultRelayBatch   = 512
	DefaultFlushTimeout = 10 * time.Second
	idleRecheck         = 5 * time.Second // wake up even without a notification
	maxRelayBackoff     = 30 * time.Second
	// publishAckTimeout bounds the wall-clock wait for one PubAck: an ack
	// lost on the way (a server restart, a dropped route) fails the publish,
	// and the message is published again, instead of stalling the relay.
	publishAckTimeout = 10 * time.Second
)

func (r *relay) run(ctx context.Context) error {
	failures := 0
	for {
		if ctx.Err() != nil {
			return r.drain()
		}
		n, err := r.publishBatch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return r.drain()
			}
			failures++
			wait := min(time.Duration(failures)*time.Second, maxRelayBackoff)
			r.health.relayFailed()
			r.log.Warn("publish failed; will publish again", zap.Error(err), zap.Duration("retry_in", wait))
			if isStreamMissing(err) && r.recover != nil {
				if rerr := r.recover(ctx); rerr != nil {
					r.log.Warn("recreate streams", zap.Error(rerr))
				}
			}
			if clock.Sleep(ctx, r.clk, wait) != nil {
				return r.drain()
			}
			continue
		}
		failures = 0
		if n > 0 {
			continue
		}
		t := r.clk.NewTimer(idleRecheck)
		select {
		case <-ctx.Done():
		case <-r.store.Notify():
		case <-t.C():
		}
		t.Stop()
	}
}

// drain publishes what it can of the outbox within the flush bound, after
// the bridge was told to stop.
func (r *relay) drain() error {
	ctx, cancel := context.WithTimeout(context.Background(), r.flush)
	defer cancel()
	for {
		n, err := r.publishBatch(ctx)
		if err != nil {
			depth, _, _ := r.store.OutboxStats()
			r.log.Warn("stopping with messages left in the outbox; they are published at the next start", zap.Int("outbox", depth), zap.Error(err))
			return nil
		}
		if n == 0 {
			return nil
		}
	}
}

// publishBatch publishes the outbox, oldest first, until it is empty or a
// publish fails, and removes what JetStream acknowledged. Batches are
// pipelined: the next batch is sent while the acks of the previous one are
// awaited and the previous one is deleted. It returns how many messages it
// published.
//
// Messages with the same ordering key (see orderingKey) are never in
// flight together: a message is handed to the NATS client only after the
// one before it with its key was acknowledged. When the connection drops,
// the client loses what was on the wire and sends what it had buffered
// after it reconnects; were two messages of one order in flight, the later
// could be stored and the earlier, published again, land after it (an
// order's events out of order, a stale value in the orders bucket).
func (r *relay) publishBatch(ctx context.Context) (int, error) {
	total := 0
	var inflight *sent
	var after uint64
	keys := map[string]bool{} // ordering keys of the messages in flight
	for {
		msgs, err := r.store.Pending(after, r.batch)
		if err != nil {
			return total, fmt.Errorf("read outbox: %w", err)
		}
		var next *sent
		if len(msgs) > 0 {
			next = r.send(msgs, keys)
			if n := len(next.futures); n > 0 {
				after = msgs[n-1].Seq
			}
		}
		if inflight != nil {
			n, err := r.settle(ctx, inflight, keys)
			total += n
			if err != nil {
				if next != nil {
					n, _ := r.settle(ctx, next, keys) // keep what was acknowledged
					total += n
				}
				return total, err
			}
		}
		if next == nil {
			return total, nil
		}
		if next.err != nil {
			n, _ := r.settle(ctx, next, keys)
			return total + n, next.err
		}
		inflight = next
		if len(next.futures) == 0 {
			inflight = nil // held back by a key of the batch just settled: read again
		}
	}
}

// orderingKey is what the relay keeps in order: the order a message is
// about (its events share one key, its value in the orders bucket
// another). Any other message — a command's outcome, published after the
// events its PATCH caused — is a fence: it waits until no message of an
// order is in flight, so it never lands before an event that precedes it.
func (r *relay) orderingKey(subject string) (key string, fence bool) {
	if strings.HasPrefix(subject, "$KV.") {
		return subject, false
	}
	if rest, ok := strings.CutPrefix(subject, r.prefix+".order."); ok {
		return "order " + rest[strings.LastIndexByte(rest, '.')+1:], false
	}
	return fenceKeyPrefix + subject, true
}

// fenceKeyPrefix starts the ordering key of a fence.
const fenceKeyPrefix = "fence "

// ordersInFlight reports whether keys holds a key of an order.
func ordersInFlight(keys map[string]bool) bool {
	for k := range keys {
		if !strings.HasPrefix(k, fenceKeyPrefix) {
			return true
		}
	}
	return false
}

// sent is a batch handed to JetStream, waiting for its acks.
type sent struct {
	msgs    []state.Message
	futures []jetstream.PubAckFuture // one per message sent, in order
	err     error                    // why sending stopped early, if it did
}

// send publishes msgs asynchronously, in order, up to the first whose
// ordering key is in flight (keys, which it extends); JetStream bounds the
// acks in flight.
func (r *relay) send(msgs []state.Message, keys map[string]bool) *sent {
	s := &sent{msgs: msgs, futures: make([]jetstream.PubAckFuture, 0, len(msgs))}
	for i := range msgs {
		m := &msgs[i]
		key, fence := r.orderingKey(m.Subject)
		if keys[key] || fence && ordersInFlight(keys) {
			break
		}
		nm := &nats.Msg{Subject: m.Subject, Data: m.Data, Header: make(nats.Header, len(m.Header))}
		for k, v := range m.Header {
			nm.Header.Set(k, v)
		}
		f, err := r.js.PublishMsgAsync(nm)
		if err != nil {
			s.err = fmt.Errorf("publish %s: %w", m.Subject, err)
			break
		}
		keys[key] = true
		s.futures = append(s.futures, f)
	}
	s.msgs = msgs[:len(s.futures)]
	return s
}

// settle waits for the acks of a sent batch, deletes the acknowledged
// messages from the outbox and takes their ordering keys out of keys. It
// returns how many were acknowledged and the first failure.
func (r *relay) settle(ctx context.Context, s *sent, keys map[string]bool) (int, error) {
	defer func() {
		for i := range s.msgs {
			key, _ := r.orderingKey(s.msgs[i].Subject)
			delete(keys, key)
		}
	}()
	acked := make([]uint64, 0, len(s.futures))
	var firstErr error
	for i, f := range s.futures {
		select {
		case <-f.Ok():
			acked = append(acked, s.msgs[i].Seq)
		case err := <-f.Err():
			if firstErr == nil {
				firstErr = fmt.Errorf("publish %s: %w", s.msgs[i].Subject, err)
			}
		case <-ctx.Done():
			if firstErr == nil {
				firstErr = ctx.Err()
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	if len(acked) > 0 {
		if err := r.store.Ack(acked...); err != nil {
			return 0, fmt.Errorf("remove published messages: %w", err)
		}
		r.health.published(len(acked))
	}
	return len(acked), firstErr
}

// isStreamMissing reports whether a publish failed because no stream took
// the subject.
func isStreamMissing(err error) bool {
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrStreamNotFound)
}
