package integration

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tvs/stack"
)

// Both of entry's configurations against every nginx base image on this
// machine: nginx.conf needs nginx >= 1.27.3 (`resolve` in an upstream);
// nginx-1.22.conf, the course's way, works on 1.22 and on current releases.
func TestNginxConfigsAgainstTheirVersions(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	base, err := (&stack.Stack{Project: "tvs-test-build", Dir: root(), EnvFile: envFile}).BuildArg(context.Background(), "entry", "NGINX_IMAGE")
	if err != nil {
		t.Fatal(err)
	}
	var images []string
	for _, image := range []string{"tvs-nginx-base:sid", "tvs-nginx-base:bookworm", base} {
		if image != "" && !slices.Contains(images, image) && exec.Command("docker", "image", "inspect", image).Run() == nil {
			images = append(images, image)
		}
	}
	if len(images) == 0 {
		t.Skip("no nginx base image on this machine (scripts/offline-images makes one)")
	}
	for _, image := range images {
		version, _ := exec.Command("docker", "run", "--rm", image, "nginx", "-v").CombinedOutput()
		modern := !strings.Contains(string(version), "nginx/1.22")
		for _, conf := range []string{"nginx.conf", "nginx-1.22.conf"} {
			path := filepath.Join(root(), "nginx", conf)
			common := filepath.Join(root(), "nginx", "common.conf")
			out, err := exec.Command("docker", "run", "--rm", "-v", path+":/etc/nginx/nginx.conf:ro",
				"-v", common+":/etc/nginx/common.conf:ro", image, "nginx", "-t").CombinedOutput()
			t.Logf("%s (%s) with %s: ok %v", image, strings.TrimSpace(string(version)), conf, err == nil)
			switch {
			case conf == "nginx-1.22.conf" && err != nil:
				t.Errorf("%s rejects %s: %s", image, conf, out)
			case conf == "nginx.conf" && modern && err != nil:
				t.Errorf("%s rejects %s: %s", image, conf, out)
			case conf == "nginx.conf" && !modern && err == nil:
				t.Errorf("%s accepts %s, which should need nginx >= 1.27.3", image, conf)
			}
		}
	}
}
