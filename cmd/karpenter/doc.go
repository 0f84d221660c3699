// Command karpenter is the node autoscaler's single binary:
//
//	karpenter controller   run the controllers against a cluster (see --help)
//	karpenter simulate     plan pending pods from manifests, without a cluster
//	karpenter version      print the version
package main
