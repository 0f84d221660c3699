// Package test holds what the project's tests share: a real API server (envtest, started from
// the control-plane binaries in bin/), a scheme with every type the project uses, and object
// builders. Nothing here is used outside tests.
package test
