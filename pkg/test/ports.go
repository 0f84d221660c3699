package test

import (
	"fmt"
	"math/rand/v2"
	"net"
)

// Test servers listen on ports from below the kernel's ephemeral range (32768-60999 on Linux):
// a port the kernel hands out for ":0" and that is released again can be taken by any outgoing
// connection's local end before the server we start binds it (CI once lost
// kube-controller-manager's port that way). Picked at random, so two servers of one run rarely
// ask for the same; callers that start another process still retry on a clash.
const (
	portLow  = 20000
	portHigh = 32000
)

// FreePorts returns the first of n consecutive loopback ports that were free a moment ago.
func FreePorts(n int) (int, error) {
	for attempt := 0; attempt < 200; attempt++ {
		base := portLow + rand.IntN(portHigh-portLow-n)
		if portsFree(base, n) {
			return base, nil
		}
	}
	return 0, fmt.Errorf("finding %d free ports in %d-%d: every try was taken", n, portLow, portHigh)
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) { return FreePorts(1) }

func portsFree(base, n int) bool {
	for i := range n {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
		if err != nil {
			return false
		}
		_ = l.Close()
	}
	return true
}
