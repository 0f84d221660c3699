// Command karpenter is the node autoscaler's single binary; see `karpenter help`.
package main

import (
	"os"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
