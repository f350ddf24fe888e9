module github.com/cardbridge/cardbridge

go 1.26.8

require (
	github.com/gorilla/websocket v1.5.3
	github.com/miekg/pkcs11 v1.1.2
	github.com/twpayne/go-pinentry/v4 v4.0.0
	go.uber.org/zap v1.28.0
	software.sslmate.com/src/go-pkcs12 v0.6.0
)

require (
	go.uber.org/multierr v1.10.0 // indirect
	golang.org/x/crypto v0.11.0 // indirect
)
