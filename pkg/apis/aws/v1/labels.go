package v1

// Well-known keys of the AWS provider.
const (
	// TerminationFinalizer holds an EC2NodeClass until the launch templates and the instance
	// profile it created are gone.
	TerminationFinalizer = Group + "/termination"
	// LabelNodeClass is the tag (and NodeClaim label) naming the EC2NodeClass an instance was
	// launched with.
	LabelNodeClass = Group + "/ec2nodeclass"
	// AnnotationNodeClassHash records the hash of the class's launch-relevant fields on the
	// class and on every NodeClaim launched with it; a difference is drift.
	AnnotationNodeClassHash = Group + "/ec2nodeclass-hash"
	// AnnotationNodeClassHashVersion is the version of the hashing scheme.
	AnnotationNodeClassHashVersion = Group + "/ec2nodeclass-hash-version"
	// TagNodePool, TagNodeClaim and TagName are the other tags every instance carries.
	TagNodePool  = "karpenter.sh/nodepool"
	TagNodeClaim = "karpenter.sh/nodeclaim"
	TagName      = "Name"
	// TagClusterPrefix + cluster name = "owned" marks the cluster's instances.
	TagClusterPrefix = "kubernetes.io/cluster/"
	// TagManagedLaunchTemplate marks launch templates Karpenter created.
	TagManagedLaunchTemplate = Group + "/cluster"
)

// Condition types of an EC2NodeClass.
const (
	ConditionTypeSubnetsReady         = "SubnetsReady"
	ConditionTypeSecurityGroupsReady  = "SecurityGroupsReady"
	ConditionTypeAMIsReady            = "AMIsReady"
	ConditionTypeInstanceProfileReady = "InstanceProfileReady"
	ConditionTypeValidationSucceeded  = "ValidationSucceeded"
	ConditionTypeReady                = "Ready"
)

// AMI families (spec.amiFamily values).
const (
	AMIFamilyAL2          = "AL2"
	AMIFamilyAL2023       = "AL2023"
	AMIFamilyBottlerocket = "Bottlerocket"
	AMIFamilyCustom       = "Custom"
	AMIFamilyWindows2019  = "Windows2019"
	AMIFamilyWindows2022  = "Windows2022"
)
