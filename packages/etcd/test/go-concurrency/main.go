// A Go service's side of weft's lock and election interop tests: etcd's own clientv3/concurrency
// package (etcd 3.4, from Debian), the code Go services use.
//
//	concurrency lock <endpoint> <name>            NewMutex(session, "locks/<name>")
//	concurrency campaign <endpoint> <name> <value> NewElection(session, "election/<name>")
//
// Both print "waiting", then "locked <key>" / "elected <key>" once they hold the lock or lead, then
// wait for a line on stdin, unlock or resign, print "released" and exit. The session's TTL is 2 s.
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
)

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: concurrency lock|campaign <endpoint> <name> [value]")
		os.Exit(2)
	}
	mode, endpoint, name := os.Args[1], os.Args[2], os.Args[3]
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
	check(err)
	defer client.Close()
	session, err := concurrency.NewSession(client, concurrency.WithTTL(2))
	check(err)
	defer session.Close()
	ctx := context.Background()
	stdin := bufio.NewReader(os.Stdin)
	fmt.Println("waiting")

	switch mode {
	case "lock":
		mutex := concurrency.NewMutex(session, "locks/"+name)
		check(mutex.Lock(ctx))
		fmt.Println("locked", mutex.Key())
		_, _ = stdin.ReadString('\n')
		check(mutex.Unlock(ctx))
	case "campaign":
		election := concurrency.NewElection(session, "election/"+name)
		check(election.Campaign(ctx, os.Args[4]))
		fmt.Println("elected", election.Key())
		_, _ = stdin.ReadString('\n')
		check(election.Resign(ctx))
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", mode)
		os.Exit(2)
	}
	fmt.Println("released")
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
