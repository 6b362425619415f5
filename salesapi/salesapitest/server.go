package salesapitest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/salesbridge/salesbridge/clock"
)

// Log keys.
const (
	logOrder = "order"
	logKind  = "kind"
	logWho   = "who"
	logEntry = "entry"
	logFrom  = "from"
	logTo    = "to"
	logField = "field"
	logAt    = "at"
)

// Server is a running sandbox of the Sales Module API. It is safe for
// concurrent use.
type Server struct {
	// URL is the API base, ending in "/", e.g.
	// http://127.0.0.1:PORT/api/eisgs/sales-module/v2/
	URL string
	// AuthURL is the authentication base, ending in "/"; the token endpoint
	// is AuthURL + "protocol/openid-connect/token".
	AuthURL string
	// Listener is where the server listens.
	Listener net.Listener

	cfg Config
	clk clock.Clock
	log *zap.Logger

	ctx    context.Context // ends at Close: interrupts slow answers, stops life
	cancel context.CancelFunc
	http   *http.Server
	wg     sync.WaitGroup
	start  sync.Once
	close  sync.Once

	reqSeq atomic.Int64

	mu         sync.Mutex
	st         *store
	life       *life
	houses     []*house
	dataRng    *rand.Rand // generated fields of directly created orders
	shuffleRng *rand.Rand // Shuffled ordering
	extra      map[string]json.RawMessage
	tokens     map[string]token
	rate       *limiter
	faults     []*Fault
	requests   []Request
}

// NewServer starts and returns a new Server. The caller should call Close
// when finished, to shut it down. It panics if it cannot listen.
func NewServer(cfg Config) *Server {
	s := NewUnstartedServer(cfg)
	s.Start()
	return s
}

// NewUnstartedServer returns a new Server, listening but not serving yet, so
// that a test can change it (create orders, inject faults) before calling
// Start. Seeded traffic (Config.Traffic) has already been lived. It panics
// if it cannot listen or Config.ExtraFields cannot be encoded.
func NewUnstartedServer(cfg Config) *Server {
	cfg = cfg.withDefaults()
	extra, err := encodeExtra(cfg.ExtraFields)
	if err != nil {
		panic("salesapitest: " + err.Error())
	}
	l := cfg.Listener
	if l == nil {
		if l, err = net.Listen("tcp", cfg.Addr); err != nil {
			panic(fmt.Sprintf("salesapitest: failed to listen on %s: %v", cfg.Addr, err))
		}
	}
	traffic := Traffic{}
	if cfg.Traffic != nil {
		traffic = *cfg.Traffic
	}
	s := &Server{
		URL:        "http://" + l.Addr().String() + APIPath,
		AuthURL:    "http://" + l.Addr().String() + AuthPath,
		Listener:   l,
		cfg:        cfg,
		clk:        cfg.Clock,
		log:        cfg.Logger,
		st:         newStore(cfg.Seed),
		life:       newLife(cfg.Seed, traffic),
		houses:     newHouses(rand.New(rand.NewPCG(uint64(cfg.Seed), 0x40e5)), cfg.OGRNs),
		dataRng:    rand.New(rand.NewPCG(uint64(cfg.Seed), 0xda7a)),
		shuffleRng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5aff1e)),
		extra:      extra,
		tokens:     make(map[string]token),
		rate:       newLimiter(cfg.Rate),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.st.onChange = s.logChange
	if cfg.Traffic != nil {
		now := s.now()
		s.mu.Lock()
		s.populateLocked(cfg.Traffic.Orders, s.life.t.History, now)
		if s.life.t.OrdersPerDay > 0 {
			s.life.schedule(&event{at: s.life.after(now, time.Duration(float64(24*time.Hour)/s.life.t.OrdersPerDay)), kind: evArrival, live: true})
		}
		s.mu.Unlock()
		s.log.Info("sandbox seeded", zap.Int("orders", cfg.Traffic.Orders), zap.Duration("history", s.life.t.History))
	}
	return s
}

// Start starts serving, and the loop that applies generated events as the
// clock moves. It panics if called twice.
func (s *Server) Start() {
	started := false
	s.start.Do(func() { started = true })
	if !started {
		panic("salesapitest: Server already started")
	}
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          zap.NewStdLog(s.log),
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		_ = s.http.Serve(s.Listener) // ends with ErrServerClosed at Close
	}()
	go func() {
		defer s.wg.Done()
		s.run(s.ctx)
	}()
}

// Close shuts the server down: it stops accepting connections, ends slow
// answers, waits for the requests in flight and stops the generator. It may
// be called more than once.
func (s *Server) Close() {
	s.close.Do(func() {
		s.cancel()
		s.start.Do(func() {}) // a later Start panics
		if s.http != nil {
			_ = s.http.Shutdown(context.Background()) // closes the listener
		} else {
			_ = s.Listener.Close()
		}
		s.wg.Wait()
	})
}

// now is the sandbox time, to the millisecond, as the API keeps time.
func (s *Server) now() time.Time { return s.clk.Now().UTC().Truncate(time.Millisecond) }

// Now returns the sandbox clock's time, to the millisecond.
func (s *Server) Now() time.Time { return s.now() }

// ClientID and ClientSecret return the account the server accepts.
func (s *Server) ClientID() string     { return s.cfg.ClientID }
func (s *Server) ClientSecret() string { return s.cfg.ClientSecret }

// OGRNs returns the developers of the contract.
func (s *Server) OGRNs() []string { return append([]string(nil), s.cfg.OGRNs...) }

// TokenURL returns the token endpoint.
func (s *Server) TokenURL() string { return s.AuthURL + TokenPath }

func (s *Server) logChange(c Change) {
	lvl := zap.InfoLevel
	if s.life.seeding {
		lvl = zap.DebugLevel
	}
	ce := s.log.Check(lvl, "order changed")
	if ce == nil {
		return
	}
	fields := []zap.Field{zap.Int64(logOrder, c.OrderID), zap.String(logKind, string(c.Kind)), zap.String(logWho, string(c.Who)), zap.Time(logAt, c.At)}
	if c.EntryID != 0 {
		fields = append(fields, zap.Int64(logEntry, c.EntryID))
	}
	switch c.Kind {
	case KindStatus, KindPrice: // not personal data
		fields = append(fields, zap.String(logFrom, string(c.From)), zap.String(logTo, string(c.To)))
	case KindField:
		fields = append(fields, zap.String(logField, c.Field))
	}
	ce.Write(fields...)
}

// The server's routes.
type route int

const (
	routeNone route = iota
	routeToken
	routeOrders
	routeOrder
)

func (r route) path() string {
	switch r {
	case routeToken:
		return PathToken
	case routeOrders:
		return PathOrders
	case routeOrder:
		return PathOrder
	}
	return ""
}

func routeOf(p string) (route, string) {
	switch {
	case p == AuthPath+TokenPath:
		return routeToken, ""
	case p == APIPath+"external/orders":
		return routeOrders, ""
	case strings.HasPrefix(p, APIPath+"external/order/"):
		id := strings.TrimPrefix(p, APIPath+"external/order/")
		if id != "" && !strings.Contains(id, "/") {
			return routeOrder, id
		}
	}
	return routeNone, ""
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := Request{Seq: s.reqSeq.Add(1), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, At: s.now()}
	rt, id := routeOf(r.URL.Path)
	var resp response
	switch rt {
	case routeToken:
		resp = s.serveToken(r, &rec)
	case routeOrders, routeOrder:
		resp = s.serveAPI(r, &rec, rt, id)
	default:
		resp = errorResponse(rec.At, http.StatusNotFound, "No endpoint "+r.Method+" "+r.URL.Path, r.URL.Path)
	}
	// Log first, so that a client that has its answer finds it logged.
	rec.Status = resp.sentStatus()
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
	s.write(w, resp, rec.At)
}
