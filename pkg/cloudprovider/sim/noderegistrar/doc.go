// Package noderegistrar plays the booting machines of the simulated cloud: for each running
// sim instance whose boot delay has passed on the clock, it creates the Node a kubelet would
// register (name = instance ID, spec.providerID, the instance's labels and taints including
// karpenter.sh/unregistered:NoExecute, capacity and allocatable, and the annotation
// kwok.x-k8s.io/node=fake so KWOK acts as its kubelet). Instances launched with failed
// registration never get a Node. Like a cloud's node lifecycle controller, it deletes the
// Nodes of sim instances that no longer exist. A pass works from the provider's memory
// (it records its own launches and terminations) and the manager's Node cache; once per
// resync interval (30 s by default) it has the provider reload its instances from the API
// server (one List of SimInstances), so a SimInstance deleted by hand, which simulates an
// instance terminated outside Karpenter, leaves the provider's Get and List within that
// interval and garbage collection then deletes its NodeClaim. (Listing everything from the
// API server every second cost two full lists a second at any cluster size.)
//
// It is also the sim's interruption handler: for each instance with a spot interruption
// notice (sim.Provider.Interrupt) whose NodeClaim still claims it and is not being deleted,
// it deletes the NodeClaim (termination then drains the Node and deletes the instance),
// records a SpotInterrupted warning on the NodeClaim and the Node and counts
// karpenter_nodeclaims_disrupted_total{reason="interruption"}.
//
// It is not a watch-driven reconciler: its input is the sim's instance list and the clock,
// so Reconcile is one pass that returns when the next boot is due, and Start loops on the
// injected clock. Tests step a fake clock and call Reconcile.
package noderegistrar
