package main

import (
	"os"

	// Mozilla's root certificates, used when the system has none: the image's base is
	// empty, and the AWS provider talks TLS to public endpoints.
	_ "golang.org/x/crypto/x509roots/fallback"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
