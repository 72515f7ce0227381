package server_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/berth-registry/berth/server/servertest"
)

// metricRef is a Prometheus metric name in a PromQL expression.
var metricRef = regexp.MustCompile(`\b(?:berth|go|process)_[a-z0-9_]+\b`)

// TestShippedDashboardAndAlertsUseServedMetrics checks docs/monitoring: the Grafana dashboard is
// JSON with a query in every panel, the alert rules are Prometheus rule groups, and every metric
// either names is one a Berth server registers, so a renamed metric cannot silently empty a
// panel or disarm an alert.
func TestShippedDashboardAndAlertsUseServedMetrics(t *testing.T) {
	t.Parallel()
	env := servertest.Start(t)
	served := env.Server.MetricNames()
	known := func(name string) bool {
		if slices.Contains(served, name) {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} { // a histogram's series
			if base, ok := strings.CutSuffix(name, suffix); ok && slices.Contains(served, base) {
				return true
			}
		}
		return false
	}
	check := func(where, expr string) {
		refs := metricRef.FindAllString(expr, -1)
		if len(refs) == 0 && !strings.Contains(expr, "label_values") {
			t.Errorf("%s: %q names no Berth metric", where, expr)
		}
		for _, name := range refs {
			if !known(name) {
				t.Errorf("%s: %s is not a metric Berth serves", where, name)
			}
		}
	}

	raw, err := os.ReadFile("../docs/monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string
		Panels []struct {
			Type    string
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	graphs := 0
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		graphs++
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			check("panel "+p.Title, tg.Expr)
		}
	}
	if graphs < 10 {
		t.Errorf("the dashboard has %d panels", graphs)
	}

	raw, err = os.ReadFile("../docs/monitoring/prometheus-alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert       string
				Expr        string
				For         string
				Labels      map[string]string
				Annotations map[string]string
			}
		}
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("prometheus-alerts.yaml: %v", err)
	}
	alerts := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts++
			if r.Alert == "" || r.Annotations["summary"] == "" || r.Labels["severity"] == "" {
				t.Errorf("group %s: rule %q needs a name, a severity and a summary", g.Name, r.Alert)
			}
			check("alert "+r.Alert, r.Expr)
		}
	}
	if alerts < 5 {
		t.Errorf("%d alert rules", alerts)
	}
}
