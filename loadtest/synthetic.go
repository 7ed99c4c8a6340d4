package loadtest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relaycast/relaycast/client"
)

// synthPool owns the synthetic (Pion) viewers: it starts them at the ramp rate with bounded
// concurrency, sums their counters and closes them all.
type synthPool struct {
	p   Params
	log *slog.Logger
	hc  *http.Client

	latency   hist // publisher → viewer latency of stamped frames
	join      hist
	started   atomic.Int64
	connected atomic.Int64
	failed    atomic.Int64
	rampDone  chan struct{}

	mu      sync.Mutex
	viewers []*synthViewer
	errs    []string

	wg sync.WaitGroup
}

type synthViewer struct {
	v       *client.Viewer
	ws      *client.WSSession
	loc     string
	quality string // the simulcast layer it asked for ("" = auto)
	room    int    // the room it watches (Params.roomOf)
}

func newSynthPool(p Params) *synthPool {
	return &synthPool{
		p: p, log: p.Logger.With("component", "loadtest.synthetic"),
		hc:       &http.Client{Timeout: p.JoinTimeout},
		rampDone: make(chan struct{}),
	}
}

// start launches the ramp; it returns at once. ctx cancels joins in flight.
func (s *synthPool) start(ctx context.Context) {
	if s.p.Viewers == 0 {
		close(s.rampDone)
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(s.rampDone)
		sem := make(chan struct{}, s.p.MaxInFlight)
		every := time.Duration(float64(time.Second) / s.p.Ramp)
		next := time.Now()
		for i := 0; i < s.p.Viewers; i++ {
			if d := time.Until(next); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return
				}
			}
			next = next.Add(every)
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			s.started.Add(1)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() { <-sem }()
				s.join1(ctx, i)
			}()
		}
		// wait for the joins in flight so "ramp done" means every viewer is in or failed
		for range cap(sem) {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}()
}

func (s *synthPool) join1(ctx context.Context, i int) {
	v, err := client.NewViewer(client.ViewerParams{Config: client.Config{Loopback: true}, OnLatency: s.latency.Record, Lean: s.p.lean(), LeanNoGRO: s.p.LeanNoGRO,
		LeanRTCP: s.p.ViewerKind == ViewerLeanRTCP, LeanDropEvery: s.p.LeanDropEvery})
	if err != nil {
		s.fail(err)
		return
	}
	sv := &synthViewer{v: v, room: s.p.roomOf(i)}
	room := s.p.RoomName(sv.room)
	if s.p.Quality != "" {
		mix, _ := parseQualityMix(s.p.Quality) // Validate checked it
		sv.quality = qualityFor(mix, i)
	}
	jctx, cancel := context.WithTimeout(ctx, s.p.JoinTimeout)
	defer cancel()
	t0 := time.Now()
	var ex client.Exchange
	if s.p.Signaling == SignalingWS {
		sv.ws, err = client.DialWS(jctx, s.p.URL)
		if err != nil {
			_ = v.Close()
			s.fail(err)
			return
		}
		ex = sv.ws.WatchQuality(room, s.p.ViewerToken, sv.quality)
	} else {
		ex = client.WHIP(s.hc, s.p.URL+"/whep/"+room+whepQuality(sv.quality), s.p.ViewerToken, &sv.loc)
	}
	if err := v.Connect(jctx, ex); err != nil {
		s.closeViewer(sv)
		s.fail(err)
		return
	}
	s.join.Record(time.Since(t0))
	s.connected.Add(1)
	s.mu.Lock()
	s.viewers = append(s.viewers, sv)
	s.mu.Unlock()
}

func (s *synthPool) fail(err error) {
	n := s.failed.Add(1)
	if n <= 5 {
		s.log.Warn("viewer failed to join", "err", err)
		s.mu.Lock()
		s.errs = append(s.errs, err.Error())
		s.mu.Unlock()
	}
}

// synthTotals sums the viewers' counters.
type synthTotals struct {
	packets, lost, bytes int64
	disconnected         int64
}

func (s *synthPool) totals() synthTotals {
	s.mu.Lock()
	vs := s.viewers
	s.mu.Unlock()
	var t synthTotals
	for _, sv := range vs {
		st := sv.v.Stats()
		t.packets += st.Packets
		t.lost += st.Lost
		t.bytes += st.Bytes
		select {
		case <-sv.v.Disconnected():
			t.disconnected++
		default:
		}
	}
	return t
}

func (s *synthPool) firstKeyframes() Dist {
	s.mu.Lock()
	vs := s.viewers
	s.mu.Unlock()
	var h hist
	for _, sv := range vs {
		if k := sv.v.Stats().FirstKeyframe; k > 0 {
			h.Record(k)
		}
	}
	return h.snapshot().dist()
}

func (s *synthPool) errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errs...)
}

// close waits for the ramp (its ctx must be cancelled or done), then ends every session
// (WHEP DELETE / socket close) and closes every peer connection, 16 at a time.
func (s *synthPool) close() {
	s.wg.Wait()
	s.mu.Lock()
	vs := s.viewers
	s.viewers = nil
	s.mu.Unlock()
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, sv := range vs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.closeViewer(sv)
		}()
	}
	wg.Wait()
}

func (s *synthPool) closeViewer(sv *synthViewer) {
	if sv.loc != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = client.Delete(ctx, s.hc, sv.loc, s.p.ViewerToken)
		cancel()
	}
	if sv.ws != nil {
		_ = sv.ws.Close()
	}
	_ = sv.v.Close()
}

// pionPublisher is the in-process publisher: synthetic frames or real files.
type pionPublisher interface {
	Connect(ctx context.Context, ex client.Exchange) error
	Close() error
}

// publishPion starts the in-process publisher of room over WHIP: synthetic (loop, the VP8 + Opus
// loop encoded at start, media.go, each frame stamped with its send time) or, for --publisher
// file, real media files looped (no send-time stamps).
func publishPion(ctx context.Context, p Params, room string, loop *client.Loop) (pionPublisher, string, error) {
	var pub pionPublisher
	var err error
	if p.Publisher == PublisherFile {
		pub, err = client.NewFilePublisher(client.FilePublisherParams{Config: client.Config{Loopback: true}, Video: p.VideoFile, Audio: p.AudioFile, Loop: true})
	} else {
		pub, err = client.NewPublisher(client.PublisherParams{Config: client.Config{Loopback: true}, Bitrate: p.Bitrate, Simulcast: p.Simulcast, Media: loop})
	}
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrPublisher, err)
	}
	var loc string
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := pub.Connect(cctx, client.WHIP(nil, p.URL+"/whip/"+room, p.Token, &loc)); err != nil {
		_ = pub.Close()
		return nil, "", fmt.Errorf("%w: %w", ErrPublisher, err)
	}
	return pub, loc, nil
}
