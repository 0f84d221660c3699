// Package provisioning is the provisioner: it notices pods that need capacity
// (pods.IsProvisionable: marked Unschedulable by the kube-scheduler, or not looked at by it
// yet), gathers them into a batch (a batch closes after BatchIdleDuration without a new pod,
// or BatchMaxDuration after it opened), asks the scheduler where they should go, and acts
// on the plan:
//
//   - pods placed on in-flight NodeClaims (or nodes that are still initialising) are
//     nominated to them in the cluster state, so the next batch does not launch for them
//     again;
//   - each new NodeClaim of the plan is created from its NodePool's template, owned by the
//     NodePool, with the price-ordered instance types as a requirement, and its pods are
//     nominated to it;
//   - pods that fit no NodePool get a Warning FailedScheduling event with the reason.
//
// Nominated pods are planned again with the new ones when a round would launch: if that joint
// plan launches less, it replaces the nominations. The kube-scheduler binds by its own scores,
// not by the nominations, so holding them fixed launched nodes that stayed empty. For the
// same reason a pod whose planned node kube-scheduler filled with other pods is planned again
// only once kube-scheduler has stopped binding for a moment (state.Settle).
//
// NodePools are tried by descending weight; each one's limits, minus what its NodeClaims
// already hold, cap what the plan may add to it. The NodeClaim lifecycle controller takes
// over from there.
package provisioning
