package server_test

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/server"
	"github.com/berth-registry/berth/telemetry"
)

// Tracing is off by default; its settings come from flags (and so BERTH_TRACE_*) or a YAML
// section, and a bad one is refused without repeating a header's value.
func TestTraceSettings(t *testing.T) {
	t.Parallel()
	cfg, err := parseServeFlags()
	if err != nil || cfg.Trace.Enabled() || cfg.Trace.SampleRatio != 1 || cfg.Trace.ServiceName != "berth" {
		t.Fatalf("defaults: %+v, %v", cfg.Trace, err)
	}
	cfg, err = parseServeFlags("-trace-exporter", "otlp-http", "-trace-endpoint", "http://collector:4318/v1/traces",
		"-trace-insecure", "true", "-trace-headers", "x-api-key=s3cret,x-tenant=a", "-trace-sample-ratio", "0.1",
		"-trace-service-name", "registry", "-trace-namespace", "prod", "-trace-attributes", "deployment.environment=prod")
	want := telemetry.Config{Exporter: "otlp-http", Endpoint: "http://collector:4318/v1/traces", Insecure: true,
		Headers: map[string]string{"x-api-key": "s3cret", "x-tenant": "a"}, SampleRatio: 0.1, ServiceName: "registry",
		Namespace: "prod", Attributes: map[string]string{"deployment.environment": "prod"}}
	if err != nil || cfg.Trace.Exporter != want.Exporter || cfg.Trace.Endpoint != want.Endpoint || !cfg.Trace.Insecure ||
		cfg.Trace.Headers["x-api-key"] != "s3cret" || cfg.Trace.SampleRatio != 0.1 || cfg.Trace.ServiceName != "registry" ||
		cfg.Trace.Namespace != "prod" || cfg.Trace.Attributes["deployment.environment"] != "prod" {
		t.Fatalf("flags: %+v, %v", cfg.Trace, err)
	}

	file := filepath.Join(t.TempDir(), "berth.yaml")
	yaml := "trace:\n  exporter: jaeger\n  endpoint: jaeger:4317\n  sample_ratio: 0.25\n  headers: {authorization: Bearer s3cret}\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = parseServeFlags("-config", file)
	if err != nil || cfg.Trace.Exporter != "jaeger" || cfg.Trace.SampleRatio != 0.25 || cfg.Trace.ServiceName != "berth" ||
		cfg.Trace.Headers["authorization"] != "Bearer s3cret" {
		t.Fatalf("YAML: %+v, %v", cfg.Trace, err)
	}

	for _, args := range [][]string{
		{"-trace-exporter", "zipkin"},
		{"-trace-exporter", "otlp-grpc", "-trace-sample-ratio", "2"},
		{"-trace-sample-ratio", "NaN"},
		{"-trace-headers", "x-api-key s3cret"},
		{"-trace-exporter", "otlp-http", "-trace-endpoint", "ftp://collector"},
		{"-trace-insecure", "maybe"},
	} {
		_, err := parseServeFlags(args...)
		if err == nil {
			t.Errorf("%v accepted", args)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%v: the error repeats a header's value: %v", args, err)
		}
	}
}

// parseServeFlags is the configuration `berth serve` would run with, given args (and the
// environment).
func parseServeFlags(args ...string) (server.Config, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	get := server.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return server.Config{}, err
	}
	return get()
}
