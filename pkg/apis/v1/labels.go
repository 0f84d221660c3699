package v1

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Well-known labels. Karpenter sets them on NodeClaims and Nodes, and pods select on them.
const (
	// NodePoolLabelKey names the NodePool a NodeClaim and its Node belong to.
	NodePoolLabelKey = Group + "/nodepool"
	// CapacityTypeLabelKey is the purchase option: on-demand, spot or reserved.
	CapacityTypeLabelKey = Group + "/capacity-type"
	// NodeInitializedLabelKey is set to "true" on a Node once its NodeClaim is Initialized.
	NodeInitializedLabelKey = Group + "/initialized"
	// NodeRegisteredLabelKey is set to "true" on a Node once its NodeClaim is Registered.
	NodeRegisteredLabelKey = Group + "/registered"

	LabelInstanceType   = corev1.LabelInstanceTypeStable // node.kubernetes.io/instance-type
	LabelTopologyZone   = corev1.LabelTopologyZone       // topology.kubernetes.io/zone
	LabelTopologyRegion = corev1.LabelTopologyRegion     // topology.kubernetes.io/region
	LabelArch           = corev1.LabelArchStable         // kubernetes.io/arch
	LabelOS             = corev1.LabelOSStable           // kubernetes.io/os
	LabelHostname       = corev1.LabelHostname           // kubernetes.io/hostname
	LabelWindowsBuild   = corev1.LabelWindowsBuild       // node.kubernetes.io/windows-build
)

// Capacity types, the values of CapacityTypeLabelKey.
const (
	CapacityTypeOnDemand = "on-demand"
	CapacityTypeSpot     = "spot"
	CapacityTypeReserved = "reserved"
)

// Architectures and operating systems, the values of LabelArch and LabelOS.
const (
	ArchitectureAmd64 = "amd64"
	ArchitectureArm64 = "arm64"
	OSLinux           = "linux"
	OSWindows         = "windows"
)

// Well-known annotations.
const (
	// DoNotDisruptAnnotationKey on a pod or node ("true") keeps voluntary disruption away.
	DoNotDisruptAnnotationKey = Group + "/do-not-disrupt"
	// NodePoolHashAnnotationKey is the hash of a NodePool's template, used to detect drift.
	NodePoolHashAnnotationKey = Group + "/nodepool-hash"
	// NodePoolHashVersionAnnotationKey is the version of the hashing scheme.
	NodePoolHashVersionAnnotationKey = Group + "/nodepool-hash-version"
	// NodeClaimTerminationTimestampAnnotationKey is when a draining node is forcibly removed.
	NodeClaimTerminationTimestampAnnotationKey = Group + "/nodeclaim-termination-timestamp"
	// NodeClaimMinValuesRelaxedAnnotationKey records that minValues were relaxed to launch.
	NodeClaimMinValuesRelaxedAnnotationKey = Group + "/nodeclaim-min-values-relaxed"
)

// Well-known taint keys.
const (
	// DisruptedTaintKey (NoSchedule) marks a node that is being disrupted.
	DisruptedTaintKey = Group + "/disrupted"
	// UnregisteredTaintKey (NoExecute) is on a node until Karpenter registers it.
	UnregisteredTaintKey = Group + "/unregistered"
)

// DisruptedNoScheduleTaint keeps new pods off a node that is being disrupted.
var DisruptedNoScheduleTaint = corev1.Taint{Key: DisruptedTaintKey, Effect: corev1.TaintEffectNoSchedule}

// UnregisteredNoExecuteTaint is put on a node at launch and removed at registration.
var UnregisteredNoExecuteTaint = corev1.Taint{Key: UnregisteredTaintKey, Effect: corev1.TaintEffectNoExecute}

// TerminationFinalizer holds NodeClaims and Nodes until their instance is gone.
const TerminationFinalizer = Group + "/termination"

// restrictedLabels may not be set by users in NodePool requirements or template labels.
var restrictedLabels = []string{NodePoolLabelKey, LabelHostname, NodeInitializedLabelKey, NodeRegisteredLabelKey}

// IsRestrictedLabel reports whether key is a label users may not set in NodePool
// requirements or template labels.
func IsRestrictedLabel(key string) bool { return slices.Contains(restrictedLabels, key) }
