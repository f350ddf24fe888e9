//go:build unix

package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/gorilla/websocket"
)

// wsClient is a minimal JSON-RPC client over the daemon's WebSocket.
type wsClient struct {
	ws  *websocket.Conn
	id  int
	buf []byte // quickCall's request
}

func dial(port int, origin string) (*wsClient, error) {
	h := http.Header{"Origin": {origin}}
	// Buffers large enough that a batch goes out as one frame and comes
	// in with few reads, as from a browser; gorilla's 4 KiB default
	// splits a batch of 1000 digests into twelve frames.
	d := websocket.Dialer{HandshakeTimeout: 2 * time.Second, ReadBufferSize: 64 << 10, WriteBufferSize: 64 << 10}
	ws, _, err := d.Dial("ws://127.0.0.1:"+strconv.Itoa(port)+"/v1", h)
	if err != nil {
		return nil, err
	}
	return &wsClient{ws: ws}, nil
}

func (c *wsClient) close() { c.ws.Close() }

// call makes one request and decodes the result into out, if not nil.
func (c *wsClient) call(method string, params, out any) error {
	_, err := c.timedCall(method, params, out)
	return err
}

// timedCall is call, timed from the request's first byte out to the
// answer's last byte in. Encoding the request and decoding the answer are
// this client's work, not the daemon's, and stay outside the clock: a
// browser does them natively, and on two cores the benchmark's own JSON
// would otherwise be charged to cardbridge.
func (c *wsClient) timedCall(method string, params, out any) (time.Duration, error) {
	frame, err := c.request(method, params)
	if err != nil {
		return 0, err
	}
	b, took, err := c.roundTrip(frame)
	if err != nil {
		return 0, err
	}
	var resp struct {
		ID     int             `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  *protocol.Error `json:"error"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return 0, err
	}
	if resp.Error != nil {
		return 0, resp.Error
	}
	if resp.ID != c.id {
		return 0, fmt.Errorf("%s: answer to request %d, expected %d", method, resp.ID, c.id)
	}
	if out != nil {
		return took, json.Unmarshal(resp.Result, out)
	}
	return took, nil
}

// request encodes the next call.
func (c *wsClient) request(method string, params any) ([]byte, error) {
	c.id++
	req := map[string]any{"jsonrpc": "2.0", "id": c.id, "method": method}
	if params != nil {
		req["params"] = params
	}
	return json.Marshal(req)
}

// roundTrip sends one frame and returns the answer and the time between.
func (c *wsClient) roundTrip(frame []byte) ([]byte, time.Duration, error) {
	c.ws.SetReadDeadline(time.Now().Add(2 * time.Minute))
	t0 := time.Now()
	if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		return nil, 0, err
	}
	_, b, err := c.ws.ReadMessage()
	return b, time.Since(t0), err
}

// quickCall is the load generator's call, made cheap so that the load is
// the daemon's work and not this client's: the request is encoded by
// hand, and the answer only checked for an error member. That check is
// sound for this protocol: a result never has a member named "error", and
// a quote inside a string value is always escaped.
func (c *wsClient) quickCall(method string) (time.Duration, error) {
	c.id++
	c.buf = append(c.buf[:0], `{"jsonrpc":"2.0","id":`...)
	c.buf = strconv.AppendInt(c.buf, int64(c.id), 10)
	c.buf = append(c.buf, `,"method":"`...)
	c.buf = append(c.buf, method...)
	c.buf = append(c.buf, `"}`...)
	b, took, err := c.roundTrip(c.buf)
	if err == nil && bytes.Contains(b, []byte(`"error":`)) {
		err = fmt.Errorf("%s: %s", method, b)
	}
	return took, err
}
