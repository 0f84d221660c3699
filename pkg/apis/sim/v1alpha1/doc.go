// Package v1alpha1 holds the karpenter.sim.sh/v1alpha1 API of the simulated cloud:
//
//   - SimNodeClass (cluster-scoped), the node class NodePools point at when they launch on
//     the simulated cloud: zones, a catalogue restriction, launch and boot delays, image and
//     fault knobs;
//   - SimInstance (cluster-scoped), the record of one running simulated instance, written by
//     the sim provider so that a controller restart loses no instance. People read it
//     (kubectl get siminstances); only the provider writes it.
//
// +kubebuilder:object:generate=true
// +groupName=karpenter.sim.sh
package v1alpha1
