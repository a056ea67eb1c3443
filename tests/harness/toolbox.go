package harness

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/testcontainers/testcontainers-go"
)

// Toolbox returns the debug toolbox's image (dig, nslookup, ip, ss, ps,
// curl), as compose.override.yaml names it under the debug profile, and
// builds it from toolbox/ with testcontainers when it is not here yet.
func (e *Env) Toolbox(ctx context.Context) (string, error) {
	files := []string{filepath.Join(e.Root, "compose.yaml"), filepath.Join(e.Root, "compose.override.yaml")}
	p, err := Project(ctx, files, e.Vars, "debug")
	if err != nil {
		return "", err
	}
	image := p.Services["toolbox"].Image
	if image == "" {
		return "", fmt.Errorf("compose.override.yaml names no toolbox image")
	}
	if e.ImageExists(ctx, image) {
		return image, nil
	}
	repo, tag, _ := strings.Cut(image, ":")
	provider, err := testcontainers.NewDockerProvider()
	if err != nil {
		return "", err
	}
	defer provider.Close()
	req := &testcontainers.ContainerRequest{FromDockerfile: testcontainers.FromDockerfile{
		Context: filepath.Join(e.Root, "toolbox"), Repo: repo, Tag: tag, KeepImage: true,
	}}
	if _, err := provider.BuildImage(ctx, req); err != nil {
		return "", fmt.Errorf("build the toolbox %s: %w", image, err)
	}
	return image, nil
}
