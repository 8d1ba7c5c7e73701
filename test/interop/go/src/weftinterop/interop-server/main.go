// interop-server is a Go service as the estate writes them: weft.test.TestService on grpc-go with
// go-grpc-prometheus (handling-time histogram on), registered in etcd with etcd's own
// naming/endpoints manager under a lease, W3C trace context read with the OpenTelemetry SDK's
// propagator. It prints one JSON line when it serves, and deregisters on SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	grpc_prometheus "github.com/grpc-ecosystem/go-grpc-prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/naming/endpoints"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "weftinterop/testpb"
	"weftinterop/tracemd"
)

type service struct{ name string }

// echoTrace sends back, as response headers, the trace context the caller propagated: the proof
// that a traceparent written by weft is read by Go's propagator.
func (s *service) echoTrace(ctx context.Context) metadata.MD {
	sc := trace.SpanContextFromContext(tracemd.Extract(ctx))
	md := metadata.Pairs("x-served-by", s.name)
	if sc.IsValid() {
		md.Set("x-trace-id", sc.TraceID().String())
		md.Set("x-parent-span-id", sc.SpanID().String())
	}
	return md
}

func failure(req *pb.EchoRequest) error {
	msg := req.FailMessage
	if msg == "" {
		msg = "failed on request"
	}
	return status.Error(codes.Code(req.FailCode), msg)
}

func (s *service) Unary(ctx context.Context, req *pb.EchoRequest) (*pb.EchoResponse, error) {
	if err := grpc.SetHeader(ctx, s.echoTrace(ctx)); err != nil {
		return nil, err
	}
	if req.FailCode != 0 {
		return nil, failure(req)
	}
	return &pb.EchoResponse{Message: req.Message}, nil
}

func (s *service) ServerStream(req *pb.EchoRequest, stream pb.TestService_ServerStreamServer) error {
	n := int(req.Count)
	if n == 0 {
		n = 3
	}
	for i := 0; i < n; i++ {
		if err := stream.Send(&pb.EchoResponse{Message: req.Message, Index: int32(i)}); err != nil {
			return err
		}
	}
	if req.FailCode != 0 {
		return failure(req)
	}
	return nil
}

func (s *service) ClientStream(stream pb.TestService_ClientStreamServer) error {
	var messages []string
	var failed *pb.EchoRequest
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		messages = append(messages, req.Message)
		if req.FailCode != 0 && failed == nil {
			failed = req
		}
	}
	if failed != nil {
		return failure(failed)
	}
	return stream.SendAndClose(&pb.EchoResponse{Message: strings.Join(messages, ","), Index: int32(len(messages))})
}

func (s *service) Bidi(stream pb.TestService_BidiServer) error {
	index := int32(0)
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if req.FailCode != 0 {
			return failure(req)
		}
		if err := stream.Send(&pb.EchoResponse{Message: req.Message, Index: index}); err != nil {
			return err
		}
		index++
	}
}

func (s *service) Fail(ctx context.Context, req *pb.EchoRequest) (*pb.EchoResponse, error) {
	if req.FailCode == 0 {
		req.FailCode = int32(codes.Internal)
	}
	return nil, failure(req)
}

func (s *service) Sleep(ctx context.Context, req *pb.EchoRequest) (*pb.EchoResponse, error) {
	ms := req.SleepMs
	if ms == 0 {
		ms = 1000
	}
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
		return &pb.EchoResponse{Message: req.Message}, nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// refuse plays an auth interceptor placed after metrics: a unary call carrying `x-refuse` is
// answered PERMISSION_DENIED without reaching the handler. In grpc-go the request message is
// already decoded when unary interceptors run, which is where go-grpc-prometheus and weft count
// differently (see the interop README).
func refuse(ctx context.Context, req interface{}, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (interface{}, error) {
	if md, _ := metadata.FromIncomingContext(ctx); len(md.Get("x-refuse")) > 0 {
		return nil, status.Error(codes.PermissionDenied, "refused")
	}
	return handler(ctx, req)
}

func main() {
	etcdEndpoint := flag.String("etcd", "http://127.0.0.1:2379", "etcd endpoint")
	target := flag.String("target", "", "endpoints target to register under (key <target>/<addr>); empty: do not register")
	name := flag.String("name", "go", "sent back in x-served-by")
	ttl := flag.Int64("ttl", 10, "lease TTL in seconds")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("interop-server: ")

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	metricsLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	addr := lis.Addr().String()

	metrics := grpc_prometheus.NewServerMetrics()
	metrics.EnableHandlingTimeHistogram()
	registry := prometheus.NewRegistry()
	registry.MustRegister(metrics)
	server := grpc.NewServer(
		grpc.ChainUnaryInterceptor(metrics.UnaryServerInterceptor(), refuse),
		grpc.ChainStreamInterceptor(metrics.StreamServerInterceptor()),
	)
	pb.RegisterTestServiceServer(server, &service{name: *name})
	metrics.InitializeMetrics(server)
	go func() {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
		log.Print(http.Serve(metricsLis, mux))
	}()
	go func() {
		if err := server.Serve(lis); err != nil {
			log.Fatal(err)
		}
	}()

	var cli *clientv3.Client
	var key string
	var lease clientv3.LeaseID
	if *target != "" {
		cli, err = clientv3.New(clientv3.Config{Endpoints: []string{*etcdEndpoint}, DialTimeout: 5 * time.Second})
		if err != nil {
			log.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		granted, err := cli.Grant(ctx, *ttl)
		if err != nil {
			log.Fatal(err)
		}
		lease = granted.ID
		manager, err := endpoints.NewManager(cli, *target)
		if err != nil {
			log.Fatal(err)
		}
		key = *target + "/" + addr
		if err := manager.AddEndpoint(ctx, key, endpoints.Endpoint{Addr: addr}, clientv3.WithLease(lease)); err != nil {
			log.Fatal(err)
		}
		cancel()
		alive, err := cli.KeepAlive(context.Background(), lease)
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			for range alive {
			}
		}()
	}

	ready, _ := json.Marshal(map[string]string{"address": addr, "metrics": metricsLis.Addr().String(), "key": key})
	fmt.Println(string(ready))

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
	if cli != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = cli.Revoke(ctx, lease)
		cancel()
		cli.Close()
	}
	server.GracefulStop()
}
