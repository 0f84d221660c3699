package v1

// NodeClaim condition types. Several controllers read what the lifecycle controller writes,
// so the names live here, once.
const (
	ConditionTypeLaunched    = "Launched"
	ConditionTypeRegistered  = "Registered"
	ConditionTypeInitialized = "Initialized"
	ConditionTypeEmpty       = "Empty"
	// ConditionTypeReady is the root condition of NodeClaims and NodePools.
	ConditionTypeReady = "Ready"
)

// ConditionReasonLaunching is the Launched condition's reason while CloudProvider.Create is in
// flight: an instance may exist that the NodeClaim does not record yet.
const ConditionReasonLaunching = "Launching"
