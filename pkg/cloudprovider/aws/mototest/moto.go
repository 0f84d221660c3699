package mototest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/gokarpenter/karpenter/pkg/test"
)

// InstallHint says how to get moto_server.
const InstallHint = "moto_server not found on PATH or in ~/.pyenv/shims: install it with `pip install 'moto[server]==5.2.1'`"

// Region is the region the tests use.
const Region = "us-east-1"

// ErrNotInstalled means moto_server is missing.
var ErrNotInstalled = errors.New(InstallHint)

// Binary finds moto_server on PATH, then in ~/.pyenv/shims.
func Binary() (string, error) {
	if p, err := exec.LookPath("moto_server"); err == nil {
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".pyenv", "shims", "moto_server")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", ErrNotInstalled
}

// Server is a running moto_server.
type Server struct {
	// Endpoint is http://127.0.0.1:<port>.
	Endpoint string
	cmd      *exec.Cmd
	exited   <-chan struct{} // closed once the process has been waited for
}

// Start runs moto_server until Stop. It waits until the server answers. A port taken between
// the check and moto's bind makes moto exit at once; Start then tries another.
func Start() (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	var errs []error
	for range 3 {
		s, err := start(bin)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
		if !errors.Is(err, errExited) {
			break
		}
	}
	return nil, errors.Join(errs...)
}

var errExited = errors.New("moto_server exited before answering")

func start(bin string) (*Server, error) {
	port, err := test.FreePort() // below the ephemeral range (see test.FreePorts)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if os.Getenv("MOTO_VERBOSE") == "" {
		cmd.Stdout, cmd.Stderr = nil, nil
	} else {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting moto_server: %w", err)
	}
	s := &Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.exited = exited
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return nil, fmt.Errorf("starting moto_server on port %d: %w", port, errExited)
		default:
		}
		resp, err := http.Get(s.Endpoint + "/moto-api/")
		if err == nil {
			_ = resp.Body.Close()
			return s, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.Stop()
	return nil, fmt.Errorf("moto_server did not answer on %s within 60s", s.Endpoint)
}

// Stop kills moto_server and its children.
func (s *Server) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
}

// Reset drops every resource moto holds.
func (s *Server) Reset() error {
	resp, err := http.Post(s.Endpoint+"/moto-api/reset", "application/json", nil)
	if err != nil {
		return fmt.Errorf("resetting moto: %w", err)
	}
	return resp.Body.Close()
}

// Run starts moto_server for a test and stops it at the end; a missing binary fails the test.
func Run(t testing.TB) *Server {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatalf("moto_server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Config is an SDK configuration for the server with dummy credentials.
func (s *Server) Config() aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: aws.String(s.Endpoint),
	}
}

// Clients of the emulated services.
type Clients struct {
	EC2 *ec2.Client
	SSM *ssm.Client
	IAM *iam.Client
	SQS *sqs.Client
}

// Clients builds SDK clients pointed at the server.
func (s *Server) Clients() Clients {
	cfg := s.Config()
	return Clients{EC2: ec2.NewFromConfig(cfg), SSM: ssm.NewFromConfig(cfg), IAM: iam.NewFromConfig(cfg), SQS: sqs.NewFromConfig(cfg)}
}

// Context is a context for setup calls.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
