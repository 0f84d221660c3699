package v1

// NodeClaim condition types. Several controllers read what the lifecycle controller writes,
// so the names live here, once.
const (
	ConditionTypeLaunched    = "Launched"
	ConditionTypeRegistered  = "Registered"
	ConditionTypeInitialized = "Initialized"
	ConditionTypeEmpty       = "Empty"
	// ConditionTypeDrifted is True when the NodeClaim no longer matches its NodePool or
	// node class; disruption replaces such nodes.
	ConditionTypeDrifted = "Drifted"
	// ConditionTypeConsolidatable is True once no pod has been bound to or removed from the
	// node for the NodePool's consolidateAfter.
	ConditionTypeConsolidatable = "Consolidatable"
	// ConditionTypeReady is the root condition of NodeClaims and NodePools.
	ConditionTypeReady = "Ready"
)

// ConditionReasonLaunching is the Launched condition's reason while CloudProvider.Create is in
// flight: an instance may exist that the NodeClaim does not record yet.
const ConditionReasonLaunching = "Launching"

// ConditionReasonRegistrationTimeout is the Registered condition's reason (status False) on a
// NodeClaim whose node did not register within the registration TTL; the NodeClaim is deleted
// right after, and its NodePool's NodeRegistrationHealthy turns False.
const ConditionReasonRegistrationTimeout = "RegistrationTimeout"
