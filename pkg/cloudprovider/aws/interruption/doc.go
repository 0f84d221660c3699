// Package interruption is the AWS interruption controller: it polls the SQS queue named by
// --interruption-queue for the EventBridge events of ../shared/data/interruption-events.json
// and acts on the NodeClaims of the instances they name. Spot interruption warnings, state
// changes to stopping/stopped/shutting-down/terminated, AWS Health scheduled changes and
// capacity-reservation interruptions delete the NodeClaim (a graceful drain: its finalizer
// drains the node and provisioning launches a replacement); a spot interruption also marks
// its offering unavailable; a rebalance recommendation only emits an event. Every message
// is deleted once handled, unparseable ones included (and counted), so none is retried
// forever; a message whose handling failed stays for redelivery.
package interruption
