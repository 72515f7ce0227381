// Package telemetry owns Berth's distributed tracing: it builds the OpenTelemetry tracer provider
// from configuration (one OTLP exporter, a parent-based sample ratio, the service's name,
// namespace and extra resource attributes) and hands the composition root the instrumentation
// for each part: the HTTP server and outgoing transports, pgx, Redis, River and GraphQL. It also
// puts trace and span ids on log lines. Tracing is off unless an exporter is configured, and off
// costs nothing: no global provider is installed and every wrapper returns what it was given.
// It does not own metrics (each part registers its own on the registry the server hands it) and
// never decides what a part does.
package telemetry

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Exporters are the values of Config.Exporter.
const (
	// ExporterNone turns tracing off.
	ExporterNone = "none"
	// ExporterOTLPHTTP sends OTLP over HTTP (protobuf), by default to localhost:4318.
	ExporterOTLPHTTP = "otlp-http"
	// ExporterOTLPGRPC sends OTLP over gRPC, by default to localhost:4317.
	ExporterOTLPGRPC = "otlp-grpc"
	// ExporterJaeger sends OTLP over gRPC to Jaeger, which takes OTLP natively (its own Thrift
	// protocol is retired).
	ExporterJaeger = "jaeger"
)

// Config is how traces leave Berth.
type Config struct {
	// Exporter is none (the default), otlp-http, otlp-grpc or jaeger.
	Exporter string `yaml:"exporter"`
	// Endpoint is where spans go: host:port, or a URL (http://collector:4318/v1/traces for
	// otlp-http). Empty: the exporter's default, or the standard OTEL_EXPORTER_OTLP_* variables.
	Endpoint string `yaml:"endpoint"`
	// Insecure sends spans without TLS.
	Insecure bool `yaml:"insecure"`
	// Headers go with every export request (an API key for a hosted backend).
	Headers map[string]string `yaml:"headers"`
	// SampleRatio is the share of new traces recorded, 0 to 1; a request that arrives with a
	// sampled trace context is recorded whatever the ratio (parent-based).
	SampleRatio float64 `yaml:"sample_ratio"`
	// ServiceName and Namespace name this process in the backend (service.name,
	// service.namespace).
	ServiceName string `yaml:"service_name"`
	Namespace   string `yaml:"namespace"`
	// Attributes are extra resource attributes on every span (deployment.environment=prod).
	Attributes map[string]string `yaml:"attributes"`
}

// Defaults is tracing off, with the settings it would use once an exporter is chosen.
func Defaults() Config {
	return Config{Exporter: ExporterNone, SampleRatio: 1, ServiceName: "berth"}
}

// Enabled reports whether c sends spans anywhere.
func (c Config) Enabled() bool { return c.Exporter != "" && c.Exporter != ExporterNone }

// Validate says what is wrong with c, in the words of its settings.
func (c Config) Validate() error {
	switch c.Exporter {
	case "", ExporterNone, ExporterOTLPHTTP, ExporterOTLPGRPC, ExporterJaeger:
	default:
		return fmt.Errorf("BERTH_TRACE_EXPORTER %q: use none, otlp-http, otlp-grpc or jaeger", c.Exporter)
	}
	if !(c.SampleRatio >= 0 && c.SampleRatio <= 1) { // NaN too
		return fmt.Errorf("BERTH_TRACE_SAMPLE_RATIO %v: give a number from 0 to 1", c.SampleRatio)
	}
	if c.Enabled() && strings.TrimSpace(c.ServiceName) == "" {
		return errors.New("BERTH_TRACE_SERVICE_NAME must not be empty")
	}
	if strings.Contains(c.Endpoint, "://") {
		if u, err := url.Parse(c.Endpoint); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("BERTH_TRACE_ENDPOINT: give host:port or an http(s) URL")
		}
	}
	return nil
}

// ParsePairs reads "key=value,key2=value2" (the form of BERTH_TRACE_HEADERS and
// BERTH_TRACE_ATTRIBUTES); values may contain '=' but not ','.
func ParsePairs(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range strings.Split(s, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			// The value may be a secret (an API key): never repeat it.
			return nil, errors.New("give key=value pairs separated by commas")
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}
