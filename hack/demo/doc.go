// Command demo plays an e-commerce flash sale against a running local cluster with the
// controller and the simulated cloud: the shop's Deployments scale from 0 to 300 pods of mixed
// sizes, hold, then fall back to 20. It prints, as it goes, pending pods, nodes by instance
// type and capacity type, and the cost per hour, and ends with a summary. Run it with
// `make demo`.
package main
