// Package catalog turns instance-type fact sheets into cloudprovider.InstanceTypes with
// offerings, applying one rule everywhere (see ../shared/data/CATALOG.md):
//
//   - offerings: one per zone of the region and per supported capacity type (on-demand,
//     spot); on-demand at the region's list price, spot at the file's per-zone spot price or
//     else 0.4 × on-demand;
//   - capacity: cpu, memory, pods (ENI-limited, 110 when unknown), 20Gi ephemeral storage,
//     nvidia.com/gpu for NVIDIA GPUs;
//   - overhead as Karpenter computes it for AWS: 7.5 % VM memory, kube-reserved CPU on a
//     sliding scale, kube-reserved memory of 11Mi per pod + 255Mi, 1Gi kube-reserved
//     ephemeral storage, eviction thresholds of 100Mi memory and 10 % of ephemeral storage;
//   - labels: instance type, arch, os and the karpenter.k8s.aws/instance-* labels.
//
// Load and Parse read the ec2-catalog.json format; Default is a small hand-curated catalogue
// of real EC2 shapes and us-east-1 prices built through the same rule, used by `karpenter
// simulate` and the simulated cloud when no file is given.
package catalog
