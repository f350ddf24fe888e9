package server

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/gorilla/websocket"
)

// wsFrames reads and writes WebSocket text messages, pings the page, and
// closes the socket when the page is gone, idle, or trickles a frame.
type wsFrames struct {
	ws   *websocket.Conn
	lim  Limits
	b    *budget
	st   *connState
	once sync.Once
	// inMessage is set while a message is read; only the reading
	// goroutine, which also runs the pong handler, touches it.
	inMessage bool
	lastFrame atomic.Int64 // unix nanoseconds
	ping      *time.Timer
}

func newWSFrames(ws *websocket.Conn, lim Limits, b *budget, st *connState) *wsFrames {
	f := &wsFrames{ws: ws, lim: lim, b: b, st: st}
	ws.SetReadLimit(hardFrameLimit)
	f.lastFrame.Store(time.Now().UnixNano())
	ws.SetPongHandler(func(string) error {
		// A pong between the fragments of a message does not extend the
		// time that message has.
		if !f.inMessage {
			ws.SetReadDeadline(time.Now().Add(lim.PongWait))
		}
		return nil
	})
	// Armed only once f.ping is set, which tick uses.
	f.ping = time.AfterFunc(time.Hour, f.tick)
	f.ping.Reset(lim.PingInterval)
	return f
}

// tick pings the page, or closes an idle socket.
func (f *wsFrames) tick() {
	idle := time.Since(time.Unix(0, f.lastFrame.Load()))
	if f.st.running.Load() == 0 && !f.st.subscribed.Load() && idle > f.lim.IdleTimeout {
		msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "idle")
		f.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		f.close()
		return
	}
	// WriteControl may run beside the connection's other writes.
	if err := f.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
		f.close()
		return
	}
	f.ping.Reset(f.lim.PingInterval)
}

func (f *wsFrames) next(ctx context.Context) ([]byte, int64, *protocol.Error, error) {
	f.inMessage = false
	// Between messages the page has PongWait to send one or to answer a
	// ping; a half-sent frame header waits no longer than that.
	f.ws.SetReadDeadline(time.Now().Add(f.lim.PongWait))
	typ, r, err := f.ws.NextReader()
	if err != nil {
		return nil, 0, nil, err
	}
	f.inMessage = true
	now := time.Now()
	f.lastFrame.Store(now.UnixNano())
	deadline := now.Add(f.lim.FrameTimeout)
	f.ws.SetReadDeadline(deadline)
	rctx, cancel := context.WithDeadline(ctx, deadline)
	frame, held, err := readBudgeted(rctx, r, f.b, protocol.MaxFrame+1)
	cancel()
	if err == errTooLarge {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return nil, 0, nil, err // past the hard limit: the connection closes
		}
		return nil, 0, protocol.Errorf(protocol.CodeInvalidRequest, "frame exceeds %d bytes", protocol.MaxFrame), nil
	}
	if err != nil {
		return nil, 0, nil, err
	}
	if typ != websocket.TextMessage {
		f.b.release(held)
		return nil, 0, protocol.Errorf(protocol.CodeInvalidRequest, "binary frames are not supported"), nil
	}
	return frame, held, nil, nil
}

// readBudgeted reads r to its end into a buffer that grows only with
// bytes taken from b; it holds none of them when it fails.
func readBudgeted(ctx context.Context, r io.Reader, b *budget, limit int) (buf []byte, held int64, err error) {
	for {
		if len(buf) == cap(buf) {
			if cap(buf) >= limit {
				b.release(held)
				return nil, 0, errTooLarge
			}
			n := min(max(2*cap(buf), 4096), limit)
			if err := b.acquire(ctx, int64(n)-held); err != nil {
				b.release(held)
				return nil, 0, err
			}
			nb := make([]byte, len(buf), n)
			copy(nb, buf)
			buf, held = nb, int64(n)
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, held, nil
		}
		if err != nil {
			b.release(held)
			return nil, 0, err
		}
	}
}

func (f *wsFrames) write(b []byte) error {
	f.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	return f.ws.WriteMessage(websocket.TextMessage, b)
}

func (f *wsFrames) close() {
	f.once.Do(func() {
		f.ping.Stop()
		f.ws.NetConn().Close()
	})
}
