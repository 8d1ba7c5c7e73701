// interop-client is a Go caller as the estate writes them: it dials `etcd:///<target>` through
// etcd's clientv3/naming/resolver, starts a span with the OpenTelemetry SDK and sends its
// `traceparent` by hand, then prints one JSON line per call: what it sent and what came back.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/naming/resolver"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"weftinterop/tracemd"
	pb "weftinterop/testpb"
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

func main() {
	etcdEndpoint := flag.String("etcd", "http://127.0.0.1:2379", "etcd endpoint")
	target := flag.String("target", "", "endpoints target: dials etcd:///<target>")
	calls := flag.Int("calls", 1, "unary calls to make")
	timeout := flag.Duration("timeout", 10*time.Second, "deadline of each call (waits for the resolver)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("interop-client: ")

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
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
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
