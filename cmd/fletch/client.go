package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// remote holds the flags of every command that talks to a running server:
// --host (env FLETCH_HOST), --token (env FLETCH_TOKEN), --tls-ca.
type remote struct {
	host, token, caFile string
}

func (r *remote) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&r.host, "host", envOr("FLETCH_HOST", "http://127.0.0.1:8181"), "server URL (env FLETCH_HOST)")
	f.StringVar(&r.token, "token", os.Getenv("FLETCH_TOKEN"), "token (env FLETCH_TOKEN)")
	f.StringVar(&r.caFile, "tls-ca", "", "PEM file of the CA that signed the server's certificate")
}

func (r *remote) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if r.caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(r.caFile)
	if err != nil {
		return nil, fmt.Errorf("read --tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--tls-ca %s holds no PEM certificate", r.caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

func (r *remote) httpClient() (*http.Client, error) {
	cfg, err := r.tlsConfig()
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: 10 * time.Minute, Transport: &http.Transport{TLSClientConfig: cfg, Proxy: http.ProxyFromEnvironment}}, nil
}

// call sends one request to the server's HTTP API and returns the answer's
// body. body, if not nil, is sent as JSON. A status outside 2xx is returned
// as an error of one line (the server's message and the status).
func (r *remote) call(ctx context.Context, method, path string, query url.Values, body any) ([]byte, error) {
	var out bytes.Buffer
	if err := r.stream(ctx, method, path, query, body, &out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// stream is call that copies the answer's body to w as it arrives (a large
// query result is never held whole).
func (r *remote) stream(ctx context.Context, method, path string, query url.Values, body any, w io.Writer) error {
	client, err := r.httpClient()
	if err != nil {
		return err
	}
	u := strings.TrimRight(r.host, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("--host %q: %w", r.host, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", r.host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return httpError(resp)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// grpcConn dials the server's gRPC side (the same host:port) for Flight.
func (r *remote) grpcConn() (*grpc.ClientConn, error) {
	u, err := url.Parse(r.host)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--host %q is not a URL such as http://127.0.0.1:8181", r.host)
	}
	creds := insecure.NewCredentials()
	if u.Scheme == "https" {
		cfg, err := r.tlsConfig()
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(cfg)
	}
	host := u.Host
	if u.Port() == "" {
		host += ":8181"
	}
	return grpc.NewClient(host, grpc.WithTransportCredentials(creds), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
}

// outputFormat is --format as the query API spells it: "pretty" on a
// terminal and "json" otherwise when not given; "table" is "pretty".
func outputFormat(cmd *cobra.Command, format string) string {
	switch format {
	case "":
		if f, ok := cmd.OutOrStdout().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return "pretty"
		}
		return "json"
	case "table":
		return "pretty"
	}
	return format
}

// writeOutput prints a server answer, ending JSON with a newline.
func writeOutput(cmd *cobra.Command, format string, b []byte) error {
	if _, err := cmd.OutOrStdout().Write(b); err != nil {
		return err
	}
	if format == "json" && !bytes.HasSuffix(b, []byte("\n")) {
		fmt.Fprintln(cmd.OutOrStdout())
	}
	return nil
}

// confirm asks on stderr and reads an answer from stdin, as influxdb3's
// delete commands do; yes skips the question. Only "y" or "yes" proceeds.
func confirm(cmd *cobra.Command, question string, yes bool) error {
	if yes {
		return nil
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "%s Enter yes to confirm: ", question)
	line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	fmt.Fprintln(cmd.ErrOrStderr())
	return fmt.Errorf("not confirmed; answer yes, or pass --yes (-y) to skip the question")
}
