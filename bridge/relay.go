package bridge

import (
	"context"
	"errors"
	"fmt"
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
func (r *relay) publishBatch(ctx context.Context) (int, error) {
	total := 0
	var inflight *sent
	var after uint64
	for {
		msgs, err := r.store.Pending(after, r.batch)
		if err != nil {
			return total, fmt.Errorf("read outbox: %w", err)
		}
		var next *sent
		if len(msgs) > 0 {
			after = msgs[len(msgs)-1].Seq
			next = r.send(msgs)
		}
		if inflight != nil {
			n, err := r.settle(ctx, inflight)
			total += n
			if err != nil {
				if next != nil {
					n, _ := r.settle(ctx, next) // keep what was acknowledged
					total += n
				}
				return total, err
			}
		}
		if next == nil {
			return total, nil
		}
		if next.err != nil {
			n, _ := r.settle(ctx, next)
			return total + n, next.err
		}
		inflight = next
	}
}

// sent is a batch handed to JetStream, waiting for its acks.
type sent struct {
	msgs    []state.Message
	futures []jetstream.PubAckFuture // one per message sent, in order
	err     error                    // why sending stopped early, if it did
}

// send publishes msgs asynchronously; JetStream bounds the acks in flight.
func (r *relay) send(msgs []state.Message) *sent {
	s := &sent{msgs: msgs, futures: make([]jetstream.PubAckFuture, 0, len(msgs))}
	for i := range msgs {
		m := &msgs[i]
		nm := &nats.Msg{Subject: m.Subject, Data: m.Data, Header: make(nats.Header, len(m.Header))}
		for k, v := range m.Header {
			nm.Header.Set(k, v)
		}
		f, err := r.js.PublishMsgAsync(nm)
		if err != nil {
			s.err = fmt.Errorf("publish %s: %w", m.Subject, err)
			break
		}
		s.futures = append(s.futures, f)
	}
	return s
}

// settle waits for the acks of a sent batch and deletes the acknowledged
// messages from the outbox. It returns how many were acknowledged and the
// first failure.
func (r *relay) settle(ctx context.Context, s *sent) (int, error) {
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
