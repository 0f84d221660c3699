// Command image builds the controller's container image without a container runtime: the
// static karpenter binary (CGO off, linux) as the only layer over an empty base, run as the
// non-root user 65532, with OCI labels, written as one archive that is both an OCI image
// layout (index.json, blobs/) and a `docker save` archive (manifest.json), or pushed to a
// registry. The tag defaults to the image the Helm chart's default values deploy.
//
//	go run ./hack/image -o bin/karpenter-image.tar          # what `make image` runs
//	go run ./hack/image -push registry.example.com/karpenter:0.1.0
package main
