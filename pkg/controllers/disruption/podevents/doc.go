// Package podevents keeps each NodeClaim's status.lastPodEventTime: the last time a pod
// (other than a DaemonSet or static pod) was bound to its node or left it (deleted, being
// deleted, or finished). consolidateAfter is measured from it.
package podevents
