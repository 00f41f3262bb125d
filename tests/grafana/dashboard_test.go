package grafana_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/metadata"
)

// The provisioned dashboard and the view it reads (clients/grafana).
var (
	dashboardJSON = filepath.Join("..", "..", "clients", "grafana", "provisioning", "dashboards", "fletch-tsbs-cpu.json")
	cpu1mSQL      = filepath.Join("..", "..", "clients", "grafana", "cpu_1m.sql")
)

// The TSBS-shaped sample: tsbsHosts hosts, one row each every 10 s for tsbsMinutes
// from tsbsStart, the cpu-only use case's 10 tags and 10 integer fields.
const (
	tsbsDB      = "tsbs"
	tsbsHosts   = 5
	tsbsMinutes = 20
	tsbsStep    = 10 * time.Second
)

var tsbsStart = ts("2026-01-01T00:00:00Z")

// tsbsUsageUser is the sample's usage_user of host h at step i, in [0, 100].
func tsbsUsageUser(h, i int) int64 { return int64((h*37 + i*13) % 101) }

// tsbsLines is the sample as TSBS writes it: line protocol, integer fields.
func tsbsLines() []string {
	var lines []string
	for i := 0; i < tsbsMinutes*int(time.Minute/tsbsStep); i++ {
		at := tsbsStart.Add(time.Duration(i) * tsbsStep)
		for h := 0; h < tsbsHosts; h++ {
			u := tsbsUsageUser(h, i)
			lines = append(lines, fmt.Sprintf(
				"cpu,hostname=host_%d,region=eu-west-1,datacenter=eu-west-1a,rack=%d,os=Ubuntu16.04LTS,arch=x64,"+
					"team=SF,service=%d,service_version=1,service_environment=production "+
					"usage_user=%di,usage_system=%di,usage_idle=%di,usage_nice=%di,usage_iowait=%di,usage_irq=%di,"+
					"usage_softirq=%di,usage_steal=%di,usage_guest=%di,usage_guest_nice=%di %d",
				h, h%3, h%5, u, (u+11)%101, 100-u, u%7, u%5, u%3, u%11, u%2, u%13, u%17, at.UnixNano()))
		}
	}
	return lines
}

// tsbsMinuteMeans is the oracle for both time-series panels: avg(usage_user) per
// 1-minute bin and host, computed here from the generator.
func tsbsMinuteMeans() map[string]float64 {
	sum, n := map[string]int64{}, map[string]int64{}
	for i := 0; i < tsbsMinutes*int(time.Minute/tsbsStep); i++ {
		bin := tsbsStart.Add(time.Duration(i) * tsbsStep).Truncate(time.Minute)
		for h := 0; h < tsbsHosts; h++ {
			k := fmt.Sprintf("%s/host_%d", bin.Format(time.RFC3339), h)
			sum[k] += tsbsUsageUser(h, i)
			n[k]++
		}
	}
	out := map[string]float64{}
	for k, s := range sum {
		out[k] = float64(s) / float64(n[k])
	}
	return out
}

// dashboardTarget is one query of one panel, as the plugin reads it (queryText, format).
type dashboardTarget struct {
	Panel  string
	SQL    string `json:"queryText"`
	Format string `json:"format"`
}

func dashboardTargets(t *testing.T) []dashboardTarget {
	t.Helper()
	b, err := os.ReadFile(dashboardJSON)
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string            `json:"title"`
			Targets []dashboardTarget `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &dash))
	var out []dashboardTarget
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
		for _, tg := range p.Targets {
			require.NotEmpty(t, tg.SQL, "panel %q has a target without queryText", p.Title)
			tg.Panel = p.Title
			out = append(out, tg)
		}
	}
	return out
}

var macroCall = regexp.MustCompile(`\$__(timeFilter|dateBin)\(([^)]*)\)`)

// expandMacros expands the macros the dashboard uses as the datasource's macro.go does
// for the range [from, to] and a 1-minute $__interval.
func expandMacros(t *testing.T, sql string, from, to time.Time) string {
	t.Helper()
	const interval = `interval '60 second'`
	sql = macroCall.ReplaceAllStringFunc(sql, func(m string) string {
		parts := macroCall.FindStringSubmatch(m)
		col := strings.TrimSpace(parts[2])
		switch parts[1] {
		case "timeFilter":
			return fmt.Sprintf("%s >= '%s' AND %s <= '%s'", col, from.Format(time.RFC3339), col, to.Format(time.RFC3339))
		default: // dateBin
			return fmt.Sprintf("date_bin(%s, %s, timestamp '1970-01-01T00:00:00Z')", interval, col)
		}
	})
	sql = strings.ReplaceAll(sql, "$__interval", interval)
	require.NotContains(t, sql, "$__", "a macro this test does not expand: %s", sql)
	return sql
}

// TestDashboard_EveryPanelQuery runs every panel query of the provisioned dashboard,
// macros expanded, against a server holding the TSBS-shaped sample and cpu_1m made by
// the documented SQL, and checks each answer's shape and, for the time series, values.
func TestDashboard_EveryPanelQuery(t *testing.T) {
	f := startFletch(t)
	f.writeLP(t, tsbsDB, tsbsLines())
	g := newGrafanaClient(t, f, metadata.Pairs("database", tsbsDB, "authorization", "Bearer "+f.token))
	view, err := os.ReadFile(cpu1mSQL)
	require.NoError(t, err)
	_, err = g.ExecuteUpdate(g.ctx(t), string(view))
	require.NoError(t, err, "clients/grafana/cpu_1m.sql")

	want := tsbsMinuteMeans()
	from, to := tsbsStart, tsbsStart.Add(tsbsMinutes*time.Minute)
	targets := dashboardTargets(t)
	require.Len(t, targets, 3)
	for _, tg := range targets {
		t.Run(tg.Panel, func(t *testing.T) {
			r := g.query(t, expandMacros(t, tg.SQL, from, to))
			r.requireConsistentSchema(t)
			rows := r.rows(t)
			require.NotEmpty(t, rows)
			names := make([]string, r.schema.NumFields())
			for i, fld := range r.schema.Fields() {
				names[i] = fld.Name
			}
			switch tg.Format {
			case "time_series":
				r.requireNanosecondTime(t, "time")
				require.Equal(t, []string{"time", "hostname", "usage_user"}, names)
				require.Len(t, rows, len(want), "one row per minute and host")
				for _, row := range rows {
					k := fmt.Sprintf("%s/%s", row[0].(time.Time).Format(time.RFC3339), row[1])
					require.Contains(t, want, k)
					require.InDelta(t, want[k], row[2], 1e-9, k)
				}
			case "table":
				require.Equal(t, []string{"hostname", "mean_usage_user", "peak_usage_user", "readings"}, names)
				require.Len(t, rows, tsbsHosts)
				for _, row := range rows {
					require.Equal(t, int64(tsbsMinutes*int(time.Minute/tsbsStep)), row[3], "readings of %s", row[0])
				}
			default:
				t.Fatalf("panel %q: format %q is neither time_series nor table", tg.Panel, tg.Format)
			}
		})
	}
}
