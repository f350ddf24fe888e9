module github.com/cardbridge/cardbridge

go 1.26.8

require (
	github.com/gorilla/websocket v1.5.3 // indirect
	github.com/miekg/pkcs11 v1.1.2 // indirect
	github.com/twpayne/go-pinentry/v4 v4.0.0 // indirect
	go.uber.org/multierr v1.10.0 // indirect
	go.uber.org/zap v1.28.0 // indirect
)
