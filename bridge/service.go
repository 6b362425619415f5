package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"go.uber.org/zap"

	"github.com/salesbridge/salesbridge/salesapi"
)

// ServiceName is the name of the bridge's NATS micro service, as `nats
// micro ls` shows it.
const ServiceName = "salesbridge"

// Micro error codes (Nats-Service-Error-Code).
const (
	microBadRequest  = "400"
	microNotFound    = "404"
	microInternal    = "500"
	microUnavailable = "503"
)

// devVersion is the service version when Config.Version is not semver
// (micro requires semver).
const devVersion = "0.0.0-dev"

var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// serviceVersion turns a build version ("v1.2.3", "1.2.3", "dev") into
// the semver micro accepts.
func serviceVersion(v string) string {
	v = strings.TrimPrefix(v, "v")
	if semver.MatchString(v) {
		return v
	}
	return devVersion
}

// orderReply is the reply of <prefix>.api.order.get.
type orderReply struct {
	Order  json.RawMessage `json:"order"`
	Rev    uint64          `json:"rev"`
	SeenAt string          `json:"seenAt"`
}

// service answers the micro endpoints. Handlers run on the NATS client's
// goroutines; closed stops them from touching the state file once the
// bridge is stopping (a drained subscription may still deliver).
type service struct {
	b   *Bridge
	cmd *commander
	log *zap.Logger
	ctx context.Context

	mu     sync.RWMutex // held for reading by every running handler
	closed bool
}

// serve runs the micro service until ctx ends.
func (b *Bridge) serve(ctx context.Context) error {
	s := &service{b: b, cmd: b.cmd, log: b.cfg.Logger.Named("service"), ctx: ctx}
	svc, err := micro.AddService(b.nc, micro.Config{
		Name:        ServiceName,
		Version:     serviceVersion(b.cfg.Version),
		Description: "salesbridge: order commands and the bridge's state, for account " + b.cfg.ClientID,
		Metadata:    map[string]string{"prefix": b.cfg.Prefix, "clientId": b.cfg.ClientID},
	})
	if err != nil {
		return fmt.Errorf("micro service: %w", err)
	}
	endpoints := []struct {
		name, subject string
		handler       func(micro.Request)
	}{
		{"order-patch", b.names.APIPatchSubject(), s.patch},
		{"order-get", b.names.APIGetSubject(), s.get},
		{"status", b.names.APIStatusSubject(), s.status},
	}
	for _, e := range endpoints {
		if err := svc.AddEndpoint(e.name, micro.HandlerFunc(s.guard(e.handler)), micro.WithEndpointSubject(e.subject)); err != nil {
			_ = svc.Stop()
			return fmt.Errorf("micro endpoint %s: %w", e.name, err)
		}
	}
	<-ctx.Done()
	s.mu.Lock() // waits for the running handlers, which see ctx end
	s.closed = true
	s.mu.Unlock()
	if err := svc.Stop(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		s.log.Warn("stop micro service", zap.Error(err))
	}
	return nil
}

// guard runs h unless the bridge is stopping.
func (s *service) guard(h func(micro.Request)) func(micro.Request) {
	return func(req micro.Request) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		if s.closed || s.ctx.Err() != nil {
			_ = req.Error(microUnavailable, "the bridge is stopping", nil)
			return
		}
		h(req)
	}
}

// patch executes a command and replies with its outcome.
func (s *service) patch(req micro.Request) {
	in := commandInput{subject: s.b.names.APIPatchSubject(), body: req.Data()}
	if h := req.Headers(); h != nil {
		in.msgID = nats.Header(h).Get(headerMsgID)
	}
	out, err := s.cmd.executeSync(s.ctx, in)
	if err != nil {
		if s.ctx.Err() != nil {
			_ = req.Error(microUnavailable, "the bridge stopped before the command's outcome; it runs again at the next start", nil)
			return
		}
		s.log.Warn("command over the micro endpoint", zap.Error(err))
		_ = req.Error(microInternal, "the command could not be executed", nil)
		return
	}
	s.respond(req, out)
}

// get replies with an order from the local snapshot; it spends no API
// call.
func (s *service) get(req micro.Request) {
	var q struct {
		ID json.RawMessage `json:"id"`
	}
	dec := json.NewDecoder(bytes.NewReader(req.Data()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil || len(q.ID) == 0 {
		_ = req.Error(microBadRequest, `want {"id": <order id>}`, nil)
		return
	}
	id, ok := jsonInteger(q.ID)
	if !ok || id < 1 {
		_ = req.Error(microBadRequest, "id must be a positive integer", nil)
		return
	}
	o, found, err := s.b.store.Order(id)
	if err != nil {
		s.log.Warn("read order", zap.Int64(logOrder, id), zap.Error(err))
		_ = req.Error(microInternal, "the state file could not be read", nil)
		return
	}
	if !found {
		_ = req.Error(microNotFound, "order not tracked by the bridge", nil)
		return
	}
	body, err := s.b.cfg.PII.order(o.Raw)
	if err != nil {
		_ = req.Error(microInternal, "the stored order could not be read", nil)
		return
	}
	s.respond(req, orderReply{Order: body, Rev: o.Rev, SeenAt: salesapi.FormatTime(o.SeenAt)})
}

// status replies with Bridge.Status.
func (s *service) status(req micro.Request) {
	if body := bytes.TrimSpace(req.Data()); len(body) > 0 && !bytes.Equal(body, []byte("{}")) {
		_ = req.Error(microBadRequest, "want an empty body or {}", nil)
		return
	}
	st, err := s.b.Status()
	if err != nil {
		s.log.Warn("status", zap.Error(err))
		_ = req.Error(microInternal, "the state file could not be read", nil)
		return
	}
	s.respond(req, st)
}

func (s *service) respond(req micro.Request, v any) {
	if err := req.RespondJSON(v); err != nil {
		s.log.Warn("reply", zap.String("subject", req.Subject()), zap.Error(err))
	}
}
