package main

import (
	"fmt"
	"io"
	"net"

	"github.com/urfave/cli/v2"

	"github.com/idxfs/idxfs/task/metrics"
)

// metricsFlag is --metrics-addr of the commands that run long (the mount).
var metricsFlag = &cli.StringFlag{
	Name:        "metrics-addr",
	Usage:       "serve Prometheus metrics at http://`HOST:PORT`/metrics (port 0: any free port; see README \"Metrics\")",
	DefaultText: "off",
}

// startMetrics serves the metrics of e at addr, if addr is set, and says
// where on out. A port that cannot be bound is an error here, at start.
// The returned stop is never nil.
func startMetrics(addr string, e *env, out io.Writer) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, usageError{fmt.Sprintf("--metrics-addr %q: want HOST:PORT, e.g. 127.0.0.1:9464 or :9464", addr)}
	}
	srv, err := metrics.Listen(addr, metrics.New(e.store, e.engine, e.log), e.log)
	if err != nil {
		return nil, fmt.Errorf("%w (is another process serving on that port? pick another with --metrics-addr HOST:PORT)", err)
	}
	url := fmt.Sprintf("http://%s/metrics", srv.Addr())
	e.log.Info("serving metrics", "url", url)
	fmt.Fprintf(out, "idxfs: metrics at %s\n", url)
	return func() { srv.Close() }, nil
}
