// Package setup assembles the AWS provider and its controllers (the EC2NodeClass
// controller, and the interruption poller when a queue is set) for the operator, the way
// the simulated cloud hands over its node registrar.
package setup
