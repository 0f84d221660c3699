package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	chart "github.com/gokarpenter/karpenter/charts/karpenter"
)

// chartDefaultImage renders the chart with its default values and returns the controller
// container's image.
func chartDefaultImage(t *testing.T) string {
	t.Helper()
	manifests, err := chart.Render(chart.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range manifests {
		if !strings.HasSuffix(m.Source, "templates/deployment.yaml") {
			continue
		}
		var d appsv1.Deployment
		if err := yaml.Unmarshal([]byte(m.YAML), &d); err != nil {
			t.Fatal(err)
		}
		return d.Spec.Template.Spec.Containers[0].Image
	}
	t.Fatal("the chart renders no Deployment")
	return ""
}

// TestImageArchiveAndPush runs what `make image` runs, plus a push to an in-process
// registry, and reads both back: the archive as a docker archive and as an OCI layout.
func TestImageArchiveAndPush(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the controller binary")
	}
	srv := httptest.NewServer(registry.New())
	t.Cleanup(srv.Close)
	pushed := strings.TrimPrefix(srv.URL, "http://") + "/karpenter:test"
	archive := filepath.Join(t.TempDir(), "karpenter-image.tar")
	if err := run([]string{"-o", archive, "-push", pushed, "-revision", "0123abc"}); err != nil {
		t.Fatal(err)
	}

	tagStr := chartDefaultImage(t)
	tag, err := name.NewTag(tagStr)
	if err != nil {
		t.Fatalf("chart image %q: %v", tagStr, err)
	}

	// As `docker load` reads it: manifest.json with the chart's image as its tag.
	img, err := tarball.ImageFromPath(archive, &tag)
	if err != nil {
		t.Fatalf("reading the archive as a docker archive tagged %s: %v", tag, err)
	}
	checkImage(t, img)

	// As an OCI layout: index.json names the same image.
	dir := t.TempDir()
	untar(t, archive, dir)
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("reading the archive as an OCI layout: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != tag.TagStr() ||
		im.Manifests[0].Annotations["io.containerd.image.name"] != tag.Name() {
		t.Fatalf("index manifests %+v, want one named %s", im.Manifests, tag.Name())
	}
	ociImg, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, ociImg)

	// The registry has the same image the archive holds.
	pushedRef, err := name.ParseReference(pushed)
	if err != nil {
		t.Fatal(err)
	}
	remoteImg, err := remote.Image(pushedRef)
	if err != nil {
		t.Fatalf("pulling what was pushed: %v", err)
	}
	wantDigest, _ := ociImg.Digest()
	if got, _ := remoteImg.Digest(); got != wantDigest {
		t.Errorf("pushed digest %s, archive's %s", got, wantDigest)
	}
}

// checkImage: entrypoint, non-root user, labels, platform, one layer holding a static binary
// owned by root and a passwd entry for the user.
func checkImage(t *testing.T, img v1.Image) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if strings.Join(c.Entrypoint, " ") != "/karpenter" || strings.Join(c.Cmd, " ") != "controller" {
		t.Errorf("entrypoint %v cmd %v, want [/karpenter] [controller]", c.Entrypoint, c.Cmd)
	}
	if c.User != "65532:65532" {
		t.Errorf("user %q, want the non-root 65532:65532", c.User)
	}
	_, version, err := ChartImage()
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.title": "karpenter", "org.opencontainers.image.source": Source,
		"org.opencontainers.image.version": version, "org.opencontainers.image.revision": "0123abc",
	} {
		if got := c.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %d (%v), want exactly one over an empty base", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string][]byte{}
	modes := map[string]int64{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[hdr.Name], modes[hdr.Name] = b, hdr.Mode
		if hdr.Uid != 0 || hdr.Gid != 0 {
			t.Errorf("%s owned by %d:%d, want root", hdr.Name, hdr.Uid, hdr.Gid)
		}
	}
	bin, ok := files["karpenter"]
	if !ok || modes["karpenter"] != 0o755 {
		t.Fatalf("layer files %v, want karpenter with mode 0755", keys(files))
	}
	if !strings.Contains(string(files["etc/passwd"]), ":65532:65532:") {
		t.Errorf("etc/passwd %q lacks the non-root user", files["etc/passwd"])
	}
	ef, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("the binary is not ELF: %v", err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary asks for a dynamic loader; an empty base has none")
		}
	}
	if libs, _ := ef.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary links %v dynamically", libs)
	}
}

// TestBuildIsReproducible: the same binary gives the same image digest.
func TestBuildIsReproducible(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "karpenter")
	if err := os.WriteFile(bin, []byte("\x7fELF not really"), 0o755); err != nil {
		t.Fatal(err)
	}
	var digests []v1.Hash
	for range 2 {
		img, err := Build(Options{Binary: bin, Arch: "arm64", Version: "1.2.3"})
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	if digests[0] != digests[1] {
		t.Fatalf("digests %v differ", digests)
	}
}

func untar(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		if hdr.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, _ := io.ReadAll(tr)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func keys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
