// Package tsbsdata finds the TSBS data sets the Go benchmarks read: the
// files scripts/tsbs_generate.py writes (deterministically) into the
// repository's .cache/tsbs/v2/, or a directory of real TSBS files named by
// $FLETCH_TSBS_DIR. Nothing outside the repository is needed.
package tsbsdata

import (
	"fmt"
	"os"
	"path/filepath"
)

// The data sets, by file name (scripts/tsbs_generate.py's CPU_FILE and
// IOT_FILE).
const (
	CPU = "tsbs-cpu-100hosts-1day.lp.gz"
	IoT = "tsbs-iot-50trucks-1day.lp.gz"
)

// version is scripts/tsbs_generate.py's VERSION: the cache subdirectory.
const version = "v2"

// Path returns the path of data set name: $FLETCH_TSBS_DIR/name when that
// variable is set, else the generated file in the repository's cache. The
// error says how to make a missing file.
func Path(name string) (string, error) {
	if dir := os.Getenv("FLETCH_TSBS_DIR"); dir != "" {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("FLETCH_TSBS_DIR=%s has no %s: %w", dir, name, err)
		}
		return p, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, ".cache", "tsbs", version, name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s is not generated yet: run python3 scripts/tsbs_generate.py (or set FLETCH_TSBS_DIR): %w", p, err)
	}
	return p, nil
}

// repoRoot is the nearest directory above the working directory holding
// go.mod (go test runs in the package's directory).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
