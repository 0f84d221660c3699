package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	chart "github.com/gokarpenter/karpenter/charts/karpenter"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	defaultRef, version, err := ChartImage()
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	out := fs.String("o", "", "write the image archive here")
	push := fs.String("push", "", "push the image to this reference (credentials from ~/.docker/config.json)")
	tag := fs.String("tag", defaultRef, "image reference the archive names (default: the chart's default image)")
	arch := fs.String("arch", runtime.GOARCH, "GOARCH of the binary: amd64 or arm64")
	fs.StringVar(&version, "version", version, "version stamped into the binary and the labels (default: the chart's appVersion)")
	revision := fs.String("revision", "", "commit labelling the image")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" && *push == "" {
		return errors.New("nothing to do: give -o FILE and/or -push REF")
	}
	ref, err := name.NewTag(*tag)
	if err != nil {
		return fmt.Errorf("-tag %q: %w", *tag, err)
	}
	dir, err := os.MkdirTemp("", "karpenter-bin-")
	if err != nil {
		return fmt.Errorf("making a build directory: %w", err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "karpenter")
	if err := BuildBinary(bin, *arch, version); err != nil {
		return err
	}
	img, err := Build(Options{Binary: bin, Arch: *arch, Version: version, Revision: *revision})
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return fmt.Errorf("computing the digest: %w", err)
	}
	if *out != "" {
		if err := WriteArchive(*out, ref, img); err != nil {
			return err
		}
		fmt.Printf("wrote %s: %s@%s\n", *out, ref.Name(), digest)
	}
	if *push != "" {
		dst, err := name.ParseReference(*push)
		if err != nil {
			return fmt.Errorf("-push %q: %w", *push, err)
		}
		if err := remote.Write(dst, img, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
			return fmt.Errorf("pushing %s: %w", dst, err)
		}
		fmt.Printf("pushed %s@%s\n", dst.Name(), digest)
	}
	return nil
}

// ChartImage is the image reference the chart's default values deploy
// (image.repository:appVersion) and the appVersion.
func ChartImage() (string, string, error) {
	ch, err := chart.Load()
	if err != nil {
		return "", "", fmt.Errorf("loading the chart: %w", err)
	}
	img, _ := ch.Values["image"].(map[string]any)
	repo, _ := img["repository"].(string)
	if repo == "" {
		return "", "", errors.New("the chart's values have no image.repository")
	}
	if tag, _ := img["tag"].(string); tag != "" {
		return repo + ":" + tag, ch.Metadata.AppVersion, nil
	}
	return repo + ":" + ch.Metadata.AppVersion, ch.Metadata.AppVersion, nil
}

// BuildBinary builds a static linux karpenter binary for arch at out.
func BuildBinary(out, arch, version string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", out, "./cmd/karpenter")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building the controller binary: %w", err)
	}
	return nil
}

func moduleRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module root: %w", err)
	}
	gomod := strings.TrimSpace(string(b))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the karpenter module")
	}
	return filepath.Dir(gomod), nil
}
