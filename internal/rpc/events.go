package rpc

import (
	"context"
	"encoding/json"
	"time"

	"github.com/cardbridge/cardbridge/internal/protocol"
)

// eventsSubscribe starts cards.changed notifications for this connection
// and answers with the readers as they are now.
func (s *Service) eventsSubscribe(ctx context.Context, c Caller, params json.RawMessage) (any, error) {
	if err := protocol.DecodeParams(params, &struct{}{}); err != nil {
		return nil, err
	}
	if c.Notifier == nil {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "this transport cannot carry notifications")
	}
	s.mu.Lock()
	s.subs[c.Notifier] = true
	s.mu.Unlock()
	list := CardsList(s.cfg.Tokens)
	// What this subscriber was told is where the next poll compares from,
	// should polling have been idle until now.
	b, _ := json.Marshal(list)
	s.mu.Lock()
	s.told = b
	s.mu.Unlock()
	return list, nil
}

// Unsubscribe ends the notifications of a caller whose connection closed.
func (s *Service) Unsubscribe(c Caller) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.subs, c.Notifier)
}

// Watch polls the readers every interval until ctx ends. On every change
// it notifies subscribers with cards.changed and calls onChange (the
// tray); it also calls onChange once at the start.
func (s *Service) Watch(ctx context.Context, interval time.Duration, onChange func(protocol.CardsList)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var prev []byte
	for {
		// Polling costs CPU and, for software tokens, a re-initialisation;
		// do it only while someone listens.
		if onChange == nil && !s.hasSubscribers() {
			prev = nil
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				continue
			}
		}
		if prev == nil {
			s.mu.Lock()
			prev = s.told
			s.mu.Unlock()
		}
		s.cfg.Tokens.Refresh()
		list := CardsList(s.cfg.Tokens)
		cur, _ := json.Marshal(list)
		if string(cur) != string(prev) {
			if prev != nil {
				s.publish(list)
			}
			if onChange != nil {
				onChange(list)
			}
		}
		prev = cur
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) hasSubscribers() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs) > 0
}

func (s *Service) publish(list protocol.CardsList) {
	s.mu.Lock()
	var targets []*Notifier
	for n := range s.subs {
		targets = append(targets, n)
	}
	s.mu.Unlock()
	msg := protocol.Notification{JSONRPC: "2.0", Method: protocol.NotifyCardsChanged, Params: list}
	for _, n := range targets {
		n.notify(msg)
	}
}
