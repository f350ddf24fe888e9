package server

import (
	"context"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/rpc"
	"github.com/gorilla/websocket"
	"go.uber.org/zap"
)

const (
	// hardFrameLimit closes the connection; frames between MaxFrame and
	// this get an error answer and the connection goes on.
	hardFrameLimit = 8 * protocol.MaxFrame
	// maxInFlight bounds the requests one connection has running; reading
	// pauses beyond it.
	maxInFlight  = 64
	writeTimeout = 10 * time.Second
)

// serveConn runs one WebSocket connection: this goroutine reads, one
// goroutine writes, and each request runs in a goroutine of its own under a
// context that ends when the socket closes, which also closes any dialog
// the request opened.
func serveConn(parent context.Context, ws *websocket.Conn, svc *rpc.Service, caller rpc.Caller, log *zap.Logger) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	out := make(chan any, 16)
	var wg sync.WaitGroup
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		writeLoop(ctx, ws, out, log)
		// A dead writer means a dead connection: wake the reader too.
		cancel()
		ws.NetConn().Close()
	}()
	defer func() {
		cancel()
		wg.Wait()
		<-writerDone
		ws.Close()
	}()
	send := func(v any) {
		select {
		case out <- v:
		case <-ctx.Done():
		}
	}
	sem := make(chan struct{}, maxInFlight)
	ws.SetReadLimit(hardFrameLimit)
	for {
		typ, r, err := ws.NextReader()
		if err != nil {
			return
		}
		frame, err := io.ReadAll(io.LimitReader(r, protocol.MaxFrame+1))
		if err != nil {
			return
		}
		if len(frame) > protocol.MaxFrame {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return // past the hard limit: the connection closes
			}
			send(protocol.NewResponse(nil, nil, protocol.Errorf(protocol.CodeInvalidRequest, "frame exceeds %d bytes", protocol.MaxFrame)))
			continue
		}
		if typ != websocket.TextMessage {
			send(protocol.NewResponse(nil, nil, protocol.Errorf(protocol.CodeInvalidRequest, "binary frames are not supported")))
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
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if resp := svc.Handle(ctx, caller, req); resp != nil {
				send(resp)
			}
		}()
	}
}

func writeLoop(ctx context.Context, ws *websocket.Conn, out <-chan any, log *zap.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case v := <-out:
			b, err := json.Marshal(v)
			if err == nil && len(b) > protocol.MaxFrame {
				b, err = json.Marshal(protocol.NewResponse(idOf(v), nil, protocol.Errorf(protocol.CodeInternal, "the answer exceeds %d bytes; ask for fewer items", protocol.MaxFrame)))
			}
			if err != nil {
				log.Error("encode response", zap.Error(err))
				continue
			}
			ws.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := ws.WriteMessage(websocket.TextMessage, b); err != nil {
				return
			}
		}
	}
}

func idOf(v any) json.RawMessage {
	if r, ok := v.(*protocol.Response); ok {
		return r.ID
	}
	return nil
}
