package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// writeLineProtocol sends in to /api/v3/write_lp in requests of at most
// o.chunkBytes, each ending at a line boundary (a line longer than a chunk
// goes alone). It stops at the first refused request; the error names the
// bad line by its number in the whole input. With o.acceptPartial the
// server stores a chunk's good lines and names its bad ones: it goes on to
// the end and returns a *partialError counting both. It returns the lines
// written (non-empty, non-comment).
func writeLineProtocol(ctx context.Context, o *writeOptions, in io.Reader, bar *progress) (int64, error) {
	client, err := o.httpClient()
	if err != nil {
		return 0, err
	}
	q := url.Values{"db": {o.database}, "accept_partial": {fmt.Sprint(o.acceptPartial)}}
	if o.precision != "" {
		q.Set("precision", o.precision)
	}
	endpoint := strings.TrimRight(o.host, "/") + "/api/v3/write_lp?" + q.Encode()
	buf := make([]byte, 0, o.chunkBytes)
	var written int64
	var partial *partialError
	linesBefore := 0 // lines in the chunks already sent
	eof := false
	for !eof {
		// Fill the buffer, then send up to its last newline.
		for len(buf) < cap(buf) {
			n, err := in.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			bar.add(int64(n))
			if err == io.EOF {
				eof = true
				break
			}
			if err != nil {
				return written, fmt.Errorf("read input: %w", err)
			}
		}
		cut := len(buf)
		if !eof {
			i := bytes.LastIndexByte(buf, '\n')
			if i < 0 { // one line longer than the buffer: grow it
				grown := make([]byte, len(buf), 2*cap(buf))
				copy(grown, buf)
				buf = grown
				continue
			}
			cut = i + 1
		}
		chunk := buf[:cut]
		lines, nlines := countLines(chunk)
		if lines > 0 {
			bad, err := postLP(ctx, client, endpoint, o.token, chunk, linesBefore)
			switch {
			case err != nil && o.acceptPartial && bad > 0:
				if partial == nil {
					partial = &partialError{first: err}
				}
				partial.bad += int64(bad)
				written += lines - int64(bad)
			case err != nil:
				return written, err
			default:
				written += lines
			}
		}
		linesBefore += nlines
		rest := copy(buf, buf[cut:])
		buf = buf[:rest]
	}
	if partial != nil {
		partial.written = written
		return written, partial
	}
	return written, nil
}

// partialError reports a --accept-partial write that skipped bad lines.
type partialError struct {
	bad, written int64
	first        error // the first bad line, by its number in the input
}

func (e *partialError) Error() string {
	s := "s were"
	if e.bad == 1 {
		s = " was"
	}
	return fmt.Sprintf("%d bad line%s skipped and %d lines written (--accept-partial); first: %v", e.bad, s, e.written, e.first)
}

// countLines returns the data lines of chunk (neither blank nor comments)
// and its lines in all.
func countLines(chunk []byte) (data int64, all int) {
	for len(chunk) > 0 {
		line := chunk
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			line, chunk = chunk[:i], chunk[i+1:]
		} else {
			chunk = nil
		}
		all++
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] != '#' {
			data++
		}
	}
	return data, all
}

// postLP sends one chunk; a 400 naming bad lines becomes an error naming
// the first of them by its line number in the whole input, and bad is how
// many the server named.
func postLP(ctx context.Context, client *http.Client, endpoint, token string, chunk []byte, linesBefore int) (bad int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(chunk))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("write: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		io.Copy(io.Discard, resp.Body)
		return 0, nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	var e struct {
		Error string `json:"error"`
		Data  []struct {
			Message string `json:"error_message"`
			Line    int    `json:"line_number"`
		} `json:"data"`
	}
	if json.Unmarshal(b, &e) == nil && len(e.Data) > 0 {
		more := ""
		if len(e.Data) > 1 {
			more = fmt.Sprintf(" (and %d more bad lines)", len(e.Data)-1)
		}
		return len(e.Data), fmt.Errorf("line %d: %s%s (HTTP %d)", linesBefore+e.Data[0].Line, e.Data[0].Message, more, resp.StatusCode)
	}
	if resp.StatusCode == http.StatusRequestEntityTooLarge {
		return 0, fmt.Errorf("the server refused a %d-byte request as too large; lower --chunk-bytes (HTTP 413)", len(chunk))
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return 0, fmt.Errorf("%s (HTTP %d)", e.Error, resp.StatusCode)
	}
	return 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
}
