package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cardbridge/cardbridge/internal/control"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/rpc"
	"go.uber.org/zap"
)

const (
	// hardFrameLimit closes a WebSocket; frames between MaxFrame and this
	// get an error answer and the connection goes on.
	hardFrameLimit = 8 * protocol.MaxFrame
	// maxInFlight bounds the requests one connection has running; reading
	// pauses beyond it.
	maxInFlight  = 64
	writeTimeout = 10 * time.Second
)

// frames is a message transport: a WebSocket, or the control socket's
// lines.
type frames interface {
	// next returns the next frame and the bytes of the budget it holds,
	// or a protocol error to answer with while the connection goes on,
	// or err when the connection has ended.
	next(ctx context.Context) (frame []byte, held int64, bad *protocol.Error, err error)
	write(b []byte) error
	close()
}

// connState is what the idle check needs to know of a connection.
type connState struct {
	running    atomic.Int32 // requests being handled
	subscribed atomic.Bool  // subscribed to events: idle is normal
}

// serveFrames runs one connection: this goroutine reads, and each request
// runs in a goroutine of its own, at most maxInFlight at once, under a
// context that ends when the connection closes, which also closes any
// dialog the request opened. The goroutine that has an answer encodes and
// writes it, one writer at a time.
func serveFrames(parent context.Context, fc frames, st *connState, b *budget, svc *rpc.Service, caller rpc.Caller, log *zap.Logger) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	var wmu sync.Mutex
	send := func(v any) {
		msg, err := encodeAnswer(v)
		if err != nil {
			log.Error("encode response", zap.Error(err))
			return
		}
		// Answers count against the budget while they are written, so
		// that peers who do not read cannot pile them up.
		actx, done := context.WithTimeout(ctx, writeTimeout)
		defer done()
		if err := b.acquire(actx, int64(len(msg))); err != nil {
			cancel()
			fc.close()
			return
		}
		defer b.release(int64(len(msg)))
		wmu.Lock()
		defer wmu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if err := fc.write(msg); err != nil {
			// A failed write means a dead connection: wake the reader.
			cancel()
			fc.close()
		}
	}
	caller.Notifier = &rpc.Notifier{Send: send}
	var wg sync.WaitGroup
	defer func() {
		svc.Unsubscribe(caller)
		cancel()
		wg.Wait()
		fc.close()
	}()
	sem := make(chan struct{}, maxInFlight)
	for {
		frame, held, bad, err := fc.next(ctx)
		if err != nil {
			return
		}
		if bad != nil {
			send(protocol.NewResponse(nil, nil, bad))
			continue
		}
		req, perr := protocol.Decode(frame)
		if perr != nil {
			b.release(held)
			var id json.RawMessage
			if req != nil {
				id = req.ID
			}
			send(protocol.NewResponse(id, nil, perr))
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			b.release(held)
			return
		}
		wg.Add(1)
		st.running.Add(1)
		go func() {
			defer func() { st.running.Add(-1); b.release(held); <-sem; wg.Done() }()
			resp := svc.Handle(ctx, caller, req)
			if resp == nil {
				return
			}
			if req.Method == protocol.MethodEventsSubscribe && resp.Error == nil {
				st.subscribed.Store(true)
			}
			send(resp)
		}()
	}
}

// encodeAnswer encodes a response or notification; an answer over the
// frame limit becomes an error answer, since the peer would refuse it.
func encodeAnswer(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err == nil && len(b) > protocol.MaxFrame {
		b, err = json.Marshal(protocol.NewResponse(idOf(v), nil, protocol.Errorf(protocol.CodeInternal, "the answer exceeds %d bytes; ask for fewer items", protocol.MaxFrame)))
	}
	return b, err
}

func idOf(v any) json.RawMessage {
	if r, ok := v.(*protocol.Response); ok {
		return r.ID
	}
	return nil
}

// lineFrames reads and writes the control socket's JSON lines.
type lineFrames struct {
	c    net.Conn
	r    *bufio.Reader
	b    *budget
	once sync.Once
}

func (f *lineFrames) next(ctx context.Context) ([]byte, int64, *protocol.Error, error) {
	line, err := control.ReadLine(f.r)
	if err != nil {
		return nil, 0, nil, err
	}
	if len(line) > protocol.MaxFrame {
		return nil, 0, protocol.Errorf(protocol.CodeInvalidRequest, "frame exceeds %d bytes", protocol.MaxFrame), nil
	}
	// A line is read whole before it is counted, so the budget stops the
	// next one: at most one line per session over the bound.
	if err := f.b.acquire(ctx, int64(len(line))); err != nil {
		return nil, 0, nil, err
	}
	return line, int64(len(line)), nil, nil
}

func (f *lineFrames) write(b []byte) error {
	f.c.SetWriteDeadline(time.Now().Add(writeTimeout))
	return control.WriteLine(f.c, b)
}

func (f *lineFrames) close() { f.once.Do(func() { f.c.Close() }) }

// streamBudget is the byte budget of control-socket sessions, which have
// no Server of their own.
var streamBudget = newBudget(DefaultLimits.MaxBytesInFlight)

// ServeStream serves a control-socket session for origin, which the
// native messaging host vouches for on behalf of the browser.
func ServeStream(ctx context.Context, c net.Conn, r *bufio.Reader, svc *rpc.Service, origin string, log *zap.Logger) {
	serveFrames(ctx, &lineFrames{c: c, r: r, b: streamBudget}, &connState{}, streamBudget, svc, rpc.Caller{Origin: origin, Via: "extension"}, log)
}

var errTooLarge = errors.New("frame too large")
