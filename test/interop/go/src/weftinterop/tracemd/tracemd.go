// Package tracemd carries W3C trace context in gRPC metadata with the OpenTelemetry SDK's own
// propagator: Debian packages no otelgrpc, so the interop programs set and read `traceparent` by
// hand, as a Go service without otelgrpc would.
package tracemd

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc/metadata"
)

// Carrier adapts gRPC metadata to the propagator's TextMapCarrier.
type Carrier metadata.MD

func (c Carrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c Carrier) Set(key, value string) { metadata.MD(c).Set(key, value) }

func (c Carrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

var propagator = propagation.TraceContext{}

// Inject returns ctx with the span context of ctx written as outgoing `traceparent` metadata.
func Inject(ctx context.Context) context.Context {
	md := metadata.MD{}
	propagator.Inject(ctx, Carrier(md))
	return metadata.NewOutgoingContext(ctx, md)
}

// Extract returns ctx carrying the remote span context read from incoming `traceparent` metadata.
func Extract(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	return propagator.Extract(ctx, Carrier(md))
}
