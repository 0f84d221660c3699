// Package consolidation removes under-utilised nodes whose pods fit on the other nodes:
// delete-only consolidation. Replacing a node by a cheaper one is not done here.
//
// Every Interval (on the injected clock, leader only) a pass:
//
//  1. takes as candidates the NodeClaims that are Initialized and not being deleted, whose
//     Node exists, is not being deleted and is not already tainted karpenter.sh/disrupted,
//     whose NodePool has consolidationPolicy WhenEmptyOrUnderutilized and a consolidateAfter
//     other than Never, and that run at least one pod needing rescheduling (empty nodes are
//     the emptiness controller's, under the Empty budget);
//  2. drops those whose last pod event is more recent than consolidateAfter (see below),
//     that carry karpenter.sh/do-not-disrupt (NodeClaim, Node or any active pod), that run a
//     pod no controller owns (a bare pod would be lost), that run a pod a
//     PodDisruptionBudget currently allows no disruption of, or that pending pods are
//     nominated to;
//  3. orders the rest by disruption cost: fewest pods first, then oldest, then name;
//  4. greedily, for each in turn and while its NodePool's budget for reason Underutilized
//     allows (NodeClaims already being deleted count against it), solves the scheduling
//     problem of the cluster without the candidate and without the candidates already
//     chosen: their pods, plus every pod that needs a place anyway (unbound pods and pods
//     of nodes being deleted, which compete for the same free capacity), must all land on
//     initialized existing nodes; a pod that would need a new NodeClaim or fits nowhere
//     keeps the candidate;
//  5. for each chosen node: taints it karpenter.sh/disrupted:NoSchedule so no new pod lands
//     there, re-reads its pods and checks they are the ones simulated (no new pod, no
//     do-not-disrupt), then deletes the NodeClaim, records an event saying why and counts
//     karpenter_nodeclaims_disrupted_total{reason="underutilized"}. When the check fails
//     the taint is removed again. Termination drains the node through the Eviction API
//     (PodDisruptionBudgets honoured) and the kube-scheduler places the evicted pods on the
//     remaining nodes.
//
// The last pod event of a node is the latest of: the NodeClaim's Initialized transition,
// its status.lastPodEventTime when someone sets it, the PodScheduled transition of each
// pod on it, and the time a pass first saw its set of pods change (kept in memory). After
// a restart a pod removed before the first pass goes unnoticed; the consequence is at
// worst an earlier consolidation of a node whose pods still all fit elsewhere.
//
// A taint this controller added (it sets TimeAdded) to a node whose NodeClaim is not being
// deleted after StaleTaintAfter is removed: a crash between taint and delete must not keep
// a node unschedulable forever.
package consolidation
