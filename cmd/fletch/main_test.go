package main

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

// TestServeFlags_AreDocumented keeps docs/operations.md's flag table the one
// place a user reads `fletch serve`'s flags: every flag must have a row.
func TestServeFlags_AreDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	require.NoError(t, err)
	var missing []string
	serveCmd().Flags().VisitAll(func(f *pflag.Flag) {
		if !strings.Contains(string(doc), "| `--"+f.Name+"`") && !strings.Contains(string(doc), ", `--"+f.Name+"`") {
			missing = append(missing, "--"+f.Name)
		}
	})
	require.Empty(t, missing, "fletch serve flags without a row in docs/operations.md's flag table")
}

func TestErrorText_KeepsTheCaretUnderTheSpot(t *testing.T) {
	got := errorText("query: HTTP 400: invalid SQL: Parser Error: syntax error at or near \"SELEC\"\n\nLINE 1: SELEC 1\n        ^")
	require.Equal(t, "fletch: query: HTTP 400: invalid SQL: Parser Error: syntax error at or near \"SELEC\"\n"+
		"LINE 1: SELEC 1\n        ^\n", got)
	require.Equal(t, "fletch: one line\n", errorText("one\n  line"))
	require.Equal(t, "fletch: query: bad (HTTP 400)\nLINE 1: SELEC 1\n        ^\n",
		errorText("query: bad\nLINE 1: SELEC 1\n        ^ (HTTP 400)"))
}
