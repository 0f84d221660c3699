// Package userdata writes the user data that joins an EC2 instance to the cluster, merged
// with what the EC2NodeClass's spec.userData holds:
//
//   - AL2023 (nodeadm): a MIME multi-part document; the user's parts come first (a MIME
//     document's parts as they are, anything else as one part), then Karpenter's
//     application/node.eks.aws NodeConfig part with the cluster, kubelet config and flags;
//   - Bottlerocket: one TOML document; the user's settings are kept and the join settings
//     (settings.kubernetes cluster-name, api-server, cluster-certificate, cluster-dns-ip,
//     max-pods, node-labels, node-taints, reservations, eviction) are set over them.
package userdata
