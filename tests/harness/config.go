package harness

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// Project reads compose files the way compose does, with vars (and nothing
// from this process's environment) for the variables they use, and the
// services of profiles enabled. It is how the harness knows what a stack
// will run before it starts it.
func Project(ctx context.Context, files []string, vars map[string]string, profiles ...string) (*types.Project, error) {
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	opts, err := cli.NewProjectOptions(files,
		cli.WithName("tvs-config"),
		cli.WithWorkingDirectory(filepath.Dir(files[0])),
		cli.WithEnv(env),
		cli.WithProfiles(profiles),
	)
	if err != nil {
		return nil, fmt.Errorf("compose files %v: %w", files, err)
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("compose files %v: %w", files, err)
	}
	return p, nil
}

// BuildArg is a build argument of a service as compose resolves it with
// vars, such as entry's NGINX_CONF.
func BuildArg(p *types.Project, service, name string) string {
	s, ok := p.Services[service]
	if !ok || s.Build == nil || s.Build.Args[name] == nil {
		return ""
	}
	return *s.Build.Args[name]
}

// Pinned are the images compose.yaml pins, read from it with no variable
// set: the one place they are written.
type Pinned struct {
	Go, Nginx, Storage string
}

// Pins reads the pins from the repository's compose.yaml.
func Pins(ctx context.Context, root string) (Pinned, error) {
	p, err := Project(ctx, []string{filepath.Join(root, "compose.yaml")}, nil)
	if err != nil {
		return Pinned{}, err
	}
	return Pinned{
		Go:      BuildArg(p, "webapp", "GO_IMAGE"),
		Nginx:   BuildArg(p, "entry", "NGINX_IMAGE"),
		Storage: p.Services["storage"].Image,
	}, nil
}

// buildOverride is a compose file that makes compose build the images of
// services (pull_policy: build) instead of using the ones already here, or
// "" when there are none.
func buildOverride(services []string) string {
	if len(services) == 0 {
		return ""
	}
	sort.Strings(services)
	var b strings.Builder
	b.WriteString("services:\n")
	for _, s := range services {
		fmt.Fprintf(&b, "  %s:\n    pull_policy: build\n", s)
	}
	return b.String()
}
