// interop-client is a Go caller as the estate writes them: it dials `etcd:///<target>` through
// etcd's clientv3/naming/resolver, starts a span with the OpenTelemetry SDK and sends its
// `traceparent` by hand, then prints one JSON line per call: what it sent and what came back.
//
// With -addr it instead runs a fixed sequence of unary calls straight to that address through
// go-grpc-prometheus's client interceptor and prints the grpc_client_* exposition.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	grpc_prometheus "github.com/grpc-ecosystem/go-grpc-prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/naming/resolver"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "weftinterop/testpb"
	"weftinterop/tracemd"
)

type result struct {
	TraceID       string `json:"traceId"`
	SpanID        string `json:"spanId"`
	EchoedTraceID string `json:"echoedTraceId"`
	Message       string `json:"message"`
	Code          string `json:"code"`
	Details       string `json:"details"`
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// unaryFailCodes is the unary part of the suite's call sequence after three successful calls; the
// test makes the same calls from weft's client.
var unaryFailCodes = []int32{3, 5, 5, 13, 14}

// unarySequence calls addr through go-grpc-prometheus's client interceptor (handling-time
// histogram on) and prints the resulting grpc_client_* families in the Prometheus text format.
func unarySequence(addr string) {
	metrics := grpc_prometheus.NewClientMetrics()
	metrics.EnableClientHandlingTimeHistogram()
	registry := prometheus.NewRegistry()
	registry.MustRegister(metrics)
	conn, err := grpc.Dial(addr, grpc.WithInsecure(), grpc.WithUnaryInterceptor(metrics.UnaryClientInterceptor()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewTestServiceClient(conn)
	requests := []*pb.EchoRequest{{Message: "ok-0"}, {Message: "ok-1"}, {Message: "ok-2"}}
	for _, code := range unaryFailCodes {
		requests = append(requests, &pb.EchoRequest{Message: "fail", FailCode: code})
	}
	for _, req := range requests {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _ = client.Unary(ctx, req)
		cancel()
	}
	families, err := registry.Gather()
	if err != nil {
		log.Fatal(err)
	}
	encoder := expfmt.NewEncoder(os.Stdout, expfmt.FmtText)
	for _, family := range families {
		if err := encoder.Encode(family); err != nil {
			log.Fatal(err)
		}
	}
}

func main() {
	etcdEndpoint := flag.String("etcd", "http://127.0.0.1:2379", "etcd endpoint")
	target := flag.String("target", "", "endpoints target: dials etcd:///<target>")
	calls := flag.Int("calls", 1, "unary calls to make")
	timeout := flag.Duration("timeout", 10*time.Second, "deadline of each call (waits for the resolver)")
	addr := flag.String("addr", "", "run the unary metrics sequence against this host:port instead")
	balancer := flag.String("balancer", "round_robin", "load balancing policy of the etcd:/// channel")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("interop-client: ")
	if *addr != "" {
		unarySequence(*addr)
		return
	}

	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{*etcdEndpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	builder, err := resolver.NewBuilder(cli)
	if err != nil {
		log.Fatal(err)
	}
	conn, err := grpc.Dial("etcd:///"+*target, grpc.WithResolvers(builder), grpc.WithInsecure(),
		grpc.WithDefaultServiceConfig(fmt.Sprintf(`{"loadBalancingConfig":[{%q:{}}]}`, *balancer)))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewTestServiceClient(conn)

	tracer := sdktrace.NewTracerProvider().Tracer("weft-interop")
	for i := 0; i < *calls; i++ {
		ctx, span := tracer.Start(context.Background(), "interop-client")
		ctx, cancel := context.WithTimeout(tracemd.Inject(ctx), *timeout)
		var header metadata.MD
		reply, err := client.Unary(ctx, &pb.EchoRequest{Message: fmt.Sprintf("go-%d", i)}, grpc.Header(&header), grpc.WaitForReady(true))
		cancel()
		span.End()
		st := status.Convert(err)
		out := result{
			TraceID:       span.SpanContext().TraceID().String(),
			SpanID:        span.SpanContext().SpanID().String(),
			EchoedTraceID: first(header, "x-trace-id"),
			Code:          st.Code().String(),
			Details:       st.Message(),
		}
		if reply != nil {
			out.Message = reply.Message
		}
		line, _ := json.Marshal(out)
		fmt.Println(string(line))
	}
}
