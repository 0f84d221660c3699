package operator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// metricsServer serves /metrics with a handler (metrics.Registry's). It runs on every
// replica, leader or not.
type metricsServer struct {
	addr    string
	handler http.Handler
	logger  logr.Logger
	// profiling serves net/http/pprof under /debug/pprof/ too (ENABLE_PROFILING).
	profiling bool
}

var (
	_ manager.Runnable               = (*metricsServer)(nil)
	_ manager.LeaderElectionRunnable = (*metricsServer)(nil)
)

func (s *metricsServer) NeedLeaderElection() bool { return false }

// Start listens on addr and serves until ctx ends.
func (s *metricsServer) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listening for metrics on %s: %w", s.addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.handler)
	if s.profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.logger.Info("serving metrics", "addr", ln.Addr().String())
	select {
	case err = <-served:
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
		err = <-served
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving metrics: %w", err)
	}
	return nil
}
