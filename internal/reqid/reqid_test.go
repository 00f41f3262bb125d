package reqid

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFromClient(t *testing.T) {
	require.Equal(t, "abc-123", FromClient("abc-123"))
	require.Equal(t, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", FromClient("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
	for _, bad := range []string{"", "a b", "x\ny=1", "é", strings.Repeat("a", 129)} {
		got := FromClient(bad)
		require.NotEqual(t, bad, got)
		require.Len(t, got, 16)
	}
	require.NotEqual(t, New(), New())
}

func TestHandler_AddsRequestIDFromContext(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewTextHandler(&buf, nil))).With("component", "x")
	log.InfoContext(With(context.Background(), "r1"), "with id", "k", 1)
	log.InfoContext(context.Background(), "without id")
	log.Info("no context")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 3)
	require.Contains(t, lines[0], "request_id=r1")
	require.Contains(t, lines[0], "component=x")
	require.NotContains(t, lines[1], "request_id")
	require.NotContains(t, lines[2], "request_id")
}
