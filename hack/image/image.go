package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's fixed shape.
const (
	// Entrypoint is where the binary lives in the image.
	Entrypoint = "/karpenter"
	// User is the non-root uid:gid the controller runs as (the chart's runAsUser).
	User = "65532:65532"
	// Source is the project's repository, the org.opencontainers.image.source label.
	Source = "https://github.com/gokarpenter/karpenter"
)

// Options describe the image.
type Options struct {
	// Binary is the linux karpenter binary to put in the image.
	Binary string
	// Arch is its GOARCH (amd64, arm64).
	Arch string
	// Version and Revision label the image.
	Version, Revision string
	// Created is the image's creation time; zero means the Unix epoch, for reproducible
	// digests.
	Created time.Time
}

// Labels are the OCI annotations the image config carries.
func Labels(o Options) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "karpenter",
		"org.opencontainers.image.description": "Karpenter, written from scratch in Go: the node autoscaler controller",
		"org.opencontainers.image.source":      Source,
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.revision":    o.Revision,
	}
}

// Build assembles the image: one layer holding the binary and a passwd entry for the user.
func Build(o Options) (v1.Image, error) {
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("reading the controller binary: %w", err)
	}
	created := o.Created
	if created.IsZero() {
		created = time.Unix(0, 0).UTC()
	}
	layerTar, err := rootfs(bin, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("building the layer: %w", err)
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{
		Layer:     layer,
		History:   v1.History{Created: v1.Time{Time: created}, CreatedBy: "hack/image: the static karpenter binary", Comment: "karpenter " + o.Version},
		MediaType: types.OCILayer,
	})
	if err != nil {
		return nil, fmt.Errorf("appending the layer: %w", err)
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", o.Arch, v1.Time{Time: created}
	cf.Config.Entrypoint = []string{Entrypoint}
	cf.Config.Cmd = []string{"controller"}
	cf.Config.User = User
	cf.Config.WorkingDir = "/"
	cf.Config.Labels = Labels(o)
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, fmt.Errorf("writing the config: %w", err)
	}
	return img, nil
}

// rootfs is the layer's tar: /karpenter (0755, owned by root so the running user cannot
// replace it) and /etc/passwd, /etc/group naming the non-root user.
func rootfs(bin []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"etc/", 0o755, nil},
		{"etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n")},
		{"etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{"karpenter", 0o755, bin},
	}
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if f.data == nil {
			hdr.Typeflag, hdr.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("writing %s to the layer: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("writing %s to the layer: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing the layer: %w", err)
	}
	return buf.Bytes(), nil
}

// dockerManifest is one entry of a `docker save` manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// WriteArchive writes img, tagged ref, to path as a tar that is an OCI image layout (for
// `ctr images import`, `podman load`, skopeo's oci-archive:) and carries a docker
// manifest.json pointing at the same blobs (for `docker load` and `kind load image-archive`).
func WriteArchive(path string, ref name.Tag, img v1.Image) error {
	dir, err := os.MkdirTemp("", "karpenter-image-")
	if err != nil {
		return fmt.Errorf("making a layout directory: %w", err)
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("writing the OCI layout: %w", err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": ref.TagStr(),
		"io.containerd.image.name":          ref.Name(),
	})); err != nil {
		return fmt.Errorf("writing the image to the OCI layout: %w", err)
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("reading the config digest: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("reading the layers: %w", err)
	}
	dm := dockerManifest{Config: blobPath(cfgName), RepoTags: []string{ref.Name()}}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return fmt.Errorf("reading a layer digest: %w", err)
		}
		dm.Layers = append(dm.Layers, blobPath(d))
	}
	manifestJSON, err := json.Marshal([]dockerManifest{dm})
	if err != nil {
		return fmt.Errorf("encoding manifest.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), manifestJSON, 0o644); err != nil { //nolint:gosec // part of an archive
		return fmt.Errorf("writing manifest.json: %w", err)
	}
	return tarDir(dir, path)
}

func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

// tarDir writes dir's files to a tar at path, in name order with fixed times.
func tarDir(dir, path string) error {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("listing the layout: %w", err)
	}
	slices.Sort(names)
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating the archive: %w", err)
	}
	tw := tar.NewWriter(out)
	for _, p := range names {
		rel, _ := filepath.Rel(dir, p)
		info, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", rel, err)
		}
		hdr := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Size: info.Size()}
		if info.IsDir() {
			hdr.Name, hdr.Mode, hdr.Typeflag, hdr.Size = hdr.Name+"/", 0o755, tar.TypeDir, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("archiving %s: %w", rel, err)
		}
		if !info.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return fmt.Errorf("reading %s: %w", rel, err)
			}
			if _, err := tw.Write(b); err != nil {
				return fmt.Errorf("archiving %s: %w", rel, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		_ = out.Close()
		return fmt.Errorf("closing the archive: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("closing the archive: %w", err)
	}
	return nil
}
