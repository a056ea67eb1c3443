package integration

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tvs/tests/harness"
)

// Both of entry's configurations against every nginx base image on this
// machine: nginx.conf needs nginx >= 1.27.3 (`resolve` in an upstream);
// nginx-1.22.conf, the course's way, works on 1.22 and on current releases.
func TestNginxConfigsAgainstTheirVersions(t *testing.T) {
	needStacks(t)
	ctx := context.Background()
	p, err := harness.Project(ctx, []string{filepath.Join(env.Root, "compose.yaml")}, env.Vars)
	if err != nil {
		t.Fatal(err)
	}
	var images []string
	for _, image := range []string{"tvs-nginx-base:sid", "tvs-nginx-base:bookworm", harness.BuildArg(p, "entry", "NGINX_IMAGE")} {
		if image != "" && !slices.Contains(images, image) && env.ImageExists(ctx, image) {
			images = append(images, image)
		}
	}
	if len(images) == 0 {
		t.Skip("no nginx base image on this machine (scripts/offline-images makes one)")
	}
	for _, image := range images {
		version, _, err := env.RunOnce(ctx, harness.Once{Image: image, Cmd: []string{"nginx", "-v"}})
		if err != nil {
			t.Fatal(err)
		}
		modern := !strings.Contains(version, "nginx/1.22")
		for _, conf := range []string{"nginx.conf", "nginx-1.22.conf"} {
			// As entry runs it: uid 101, no capability.
			out, code, err := env.RunOnce(ctx, harness.Once{Image: image, User: "101:101", Cmd: []string{"nginx", "-t"}, Files: map[string]string{
				"/etc/nginx/nginx.conf":  filepath.Join(env.Root, "nginx", conf),
				"/etc/nginx/common.conf": filepath.Join(env.Root, "nginx", "common.conf"),
				"/etc/nginx/edge.conf":   filepath.Join(env.Root, "nginx", "edge.conf"),
			}})
			if err != nil {
				t.Fatal(err)
			}
			ok := code == 0
			t.Logf("%s (%s) with %s: ok %v", image, strings.TrimSpace(version), conf, ok)
			switch {
			case conf == "nginx-1.22.conf" && !ok:
				t.Errorf("%s rejects %s: %s", image, conf, out)
			case conf == "nginx.conf" && modern && !ok:
				t.Errorf("%s rejects %s: %s", image, conf, out)
			case conf == "nginx.conf" && !modern && ok:
				t.Errorf("%s accepts %s, which should need nginx >= 1.27.3", image, conf)
			}
		}
	}
}
