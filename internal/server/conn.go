package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"sync"
	"time"

	"github.com/cardbridge/cardbridge/internal/control"
	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/rpc"
	"github.com/gorilla/websocket"
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
	// workerIdle is how long a request goroutine waits for the next
	// request on its connection before it exits.
	workerIdle = 10 * time.Second
)

// frames is a message transport: a WebSocket, or the control socket's
// lines.
type frames interface {
	// next returns the next frame, or a protocol error to answer with
	// while the connection goes on, or err when it has ended.
	next() (frame []byte, bad *protocol.Error, err error)
	write(b []byte) error
	close()
}

// serveFrames runs one connection: this goroutine reads, and requests run
// in worker goroutines under a context that ends when the connection
// closes, which also closes any dialog the request opened. The goroutine
// that has an answer encodes and writes it, one writer at a time: no
// hand-off to a writer goroutine on the way out.
func serveFrames(parent context.Context, fc frames, svc *rpc.Service, caller rpc.Caller, log *zap.Logger) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	var wmu sync.Mutex
	send := func(v any) {
		b, err := encodeAnswer(v)
		if err != nil {
			log.Error("encode response", zap.Error(err))
			return
		}
		wmu.Lock()
		defer wmu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if err := fc.write(b); err != nil {
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
	// Requests run in worker goroutines that stay for the connection's
	// next request, up to maxInFlight at once. A fresh goroutine's stack
	// grows, and is copied, two or three times on the way through JSON
	// encoding: a tenth of the daemon's CPU for short requests.
	sem := make(chan struct{}, maxInFlight)
	work := make(chan *protocol.Request)
	worker := func(req *protocol.Request) {
		defer func() { <-sem; wg.Done() }()
		idle := time.NewTimer(workerIdle)
		defer idle.Stop()
		for {
			if resp := svc.Handle(ctx, caller, req); resp != nil {
				send(resp)
			}
			idle.Reset(workerIdle)
			select {
			case req = <-work:
			case <-idle.C:
				return
			case <-ctx.Done():
				return
			}
		}
	}
	for {
		frame, bad, err := fc.next()
		if err != nil {
			return
		}
		if bad != nil {
			send(protocol.NewResponse(nil, nil, bad))
			continue
		}
		req, perr := protocol.Decode(frame)
		if perr != nil {
			var id json.RawMessage
			if req != nil {
				id = req.ID
			}
			send(protocol.NewResponse(id, nil, perr))
			continue
		}
		select {
		case work <- req: // an idle worker took it
			continue
		default:
		}
		select {
		case work <- req:
		case sem <- struct{}{}:
			wg.Add(1)
			go worker(req)
		case <-ctx.Done():
			return
		}
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

// wsFrames reads and writes WebSocket text messages.
type wsFrames struct {
	ws   *websocket.Conn
	once sync.Once
}

func newWSFrames(ws *websocket.Conn) *wsFrames {
	ws.SetReadLimit(hardFrameLimit)
	return &wsFrames{ws: ws}
}

func (f *wsFrames) next() ([]byte, *protocol.Error, error) {
	typ, r, err := f.ws.NextReader()
	if err != nil {
		return nil, nil, err
	}
	frame, err := io.ReadAll(io.LimitReader(r, protocol.MaxFrame+1))
	if err != nil {
		return nil, nil, err
	}
	if len(frame) > protocol.MaxFrame {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return nil, nil, err // past the hard limit: the connection closes
		}
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "frame exceeds %d bytes", protocol.MaxFrame), nil
	}
	if typ != websocket.TextMessage {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "binary frames are not supported"), nil
	}
	return frame, nil, nil
}

func (f *wsFrames) write(b []byte) error {
	f.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	return f.ws.WriteMessage(websocket.TextMessage, b)
}

func (f *wsFrames) close() { f.once.Do(func() { f.ws.NetConn().Close() }) }

// lineFrames reads and writes the control socket's JSON lines.
type lineFrames struct {
	c    net.Conn
	r    *bufio.Reader
	once sync.Once
}

func (f *lineFrames) next() ([]byte, *protocol.Error, error) {
	line, err := control.ReadLine(f.r)
	if err != nil {
		return nil, nil, err
	}
	if len(line) > protocol.MaxFrame {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "frame exceeds %d bytes", protocol.MaxFrame), nil
	}
	return line, nil, nil
}

func (f *lineFrames) write(b []byte) error {
	f.c.SetWriteDeadline(time.Now().Add(writeTimeout))
	return control.WriteLine(f.c, b)
}

func (f *lineFrames) close() { f.once.Do(func() { f.c.Close() }) }

// ServeStream serves a control-socket session for origin, which the
// native messaging host vouches for on behalf of the browser.
func ServeStream(ctx context.Context, c net.Conn, r *bufio.Reader, svc *rpc.Service, origin string, log *zap.Logger) {
	serveFrames(ctx, &lineFrames{c: c, r: r}, svc, rpc.Caller{Origin: origin, Via: "extension"}, log)
}
