package server

import (
	"crypto/tls"
	"fmt"
)

// TLSConfig loads a PEM certificate chain and its unencrypted PEM key for
// Options.TLS: TLS 1.2 or later, ALPN "http/1.1" and "h2".
//
// The ALPN order is the server's preference and it matters: gRPC clients
// offer only "h2" (and grpc-exp) and get it; HTTP clients that offer both
// (curl, browsers, Go) get HTTP/1.1. HTTP/2 for the HTTP API would break,
// because cmux answers the client's SETTINGS while it looks for the gRPC
// content-type, and net/http's HTTP/2 server then sees a SETTINGS ACK it
// never asked for and drops the connection.
func TLSConfig(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1", "h2"},
	}, nil
}
