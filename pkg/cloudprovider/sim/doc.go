// Package sim is the simulated cloud: a CloudProvider whose instances are records, advanced
// by an injected clock, for local clusters, demos and tests.
//
// Instances live in memory and are persisted as cluster-scoped SimInstance objects
// (karpenter.sim.sh/v1alpha1) in the API server: a Provider loads them on first use, so a
// restarted controller loses none. A SimInstance holds everything needed to rebuild the
// instance and its Node (type, zone, capacity type, price, labels, taints, capacity,
// launch time, boot delay). Launches are idempotent per NodeClaim UID: the instance ID is
// derived from it, so a Create repeated after a restart finds the instance launched before.
//
// Create follows cloudprovider.Candidates: the cheapest available offering of the
// catalogue (catalog.Default, or a file in the ec2-catalog.json format) restricted by the
// NodeClaim's SimNodeClass (zones, instance types) and satisfying its requirements.
// Provider IDs look like sim:///<zone>/<instance-id>.
//
// Faults to inject: a launch delay (Create waits on the clock), pools with insufficient
// capacity (a launch there fails over to the next cheapest offering and marks the pool
// unavailable for a while, as AWS does; when none is left, InsufficientCapacityError),
// ambiguous launches (Create returns ErrLaunchTimedOut, yet the instance is recorded and
// appears later; until then no API shows it and a retried Create for the same NodeClaim
// times out again, after it returns the instance), failed registration (the instance runs,
// no Node appears) and spot interruption (Interrupt, Interruptions).
//
// Each fault has a declarative knob on the SimNodeClass, read on every launch, so a test or a
// user patches the running controller's cloud with kubectl: launchDelay, bootDelay,
// insufficientCapacity (selectors of instance type, zone and capacity type, each a glob,
// empty matching any), lateLaunch (how late the instance of a timed-out launch appears) and
// failRegistration; a spot interruption is the SimInstance's status.interruptedAt. The
// methods SetLaunchDelay, SetBootDelay, SetInsufficientCapacity and SetFailRegistration set
// provider-wide defaults for tests that hold the Provider.
//
// The noderegistrar sub-package plays the machine booting: it creates each running
// instance's Node once its boot delay has passed, for KWOK to act as its kubelet. It also
// resyncs the provider's instances on every pass and reacts to interruption notices by
// deleting the interrupted instances' NodeClaims.
package sim
