package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// wsClient is a minimal JSON-RPC client over the daemon's WebSocket.
type wsClient struct {
	ws *websocket.Conn
	id int
}

func dial(port int, origin string) (*wsClient, error) {
	h := http.Header{"Origin": {origin}}
	d := websocket.Dialer{HandshakeTimeout: 2 * time.Second}
	ws, _, err := d.Dial("ws://127.0.0.1:"+strconv.Itoa(port)+"/v1", h)
	if err != nil {
		return nil, err
	}
	return &wsClient{ws: ws}, nil
}

func (c *wsClient) close() { c.ws.Close() }

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    struct {
		Reason string `json:"reason"`
	} `json:"data"`
}

func (e *rpcError) Error() string {
	return fmt.Sprintf("%s (%d): %s", e.Message, e.Code, e.Data.Reason)
}

func (c *wsClient) call(method string, params, out any) error {
	c.id++
	req := map[string]any{"jsonrpc": "2.0", "id": c.id, "method": method}
	if params != nil {
		req["params"] = params
	}
	if err := c.ws.WriteJSON(req); err != nil {
		return err
	}
	var resp struct {
		Result json.RawMessage `json:"result"`
		Error  *rpcError       `json:"error"`
	}
	c.ws.SetReadDeadline(time.Now().Add(2 * time.Minute))
	if err := c.ws.ReadJSON(&resp); err != nil {
		return err
	}
	if resp.Error != nil {
		return resp.Error
	}
	if out != nil {
		return json.Unmarshal(resp.Result, out)
	}
	return nil
}
