package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// ownName matches the project, stack and folder names the harness makes
// (ProjectName): the run id in them tells whose they are.
var ownName = regexp.MustCompile(`^tvs-(test|bench)-([0-9a-f]{8})-[0-9a-f]+`)

// labelStack is the label Swarm puts on a stack's services, networks and
// volumes.
const labelStack = "com.docker.stack.namespace"

// SwarmLabel marks, on this node, a swarm a test made for itself (its
// value the test's run id, RunID), so that a later run can leave it if that
// run died before it could.
const SwarmLabel = "tvs.harness.swarm"

// A run is known by a random id (in every name it makes) and a lock file of
// this checkout, runs/<id>.lock under .tvs-runs, which it holds (flock)
// while it lives. A process id would not do: on an engine shared by two
// containers, each sees its own process ids, and one run would sweep the
// other's stacks. The kernel drops the lock of a run that dies, however it
// dies; a name whose lock file is not in this checkout is another
// checkout's, and is left alone.
var run struct {
	once sync.Once
	id   string
	lock *os.File
	err  error
}

// runsDir is where this checkout's runs keep their lock files.
func runsDir() string { return filepath.Join(Root(), ".tvs-runs") }

// RunID is this process's run id, its lock taken on first use.
func RunID() string {
	run.once.Do(func() {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		run.id = hex.EncodeToString(b)
		if run.err = os.MkdirAll(runsDir(), 0o755); run.err != nil {
			return
		}
		run.lock, run.err = os.OpenFile(filepath.Join(runsDir(), run.id+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if run.err == nil {
			run.err = syscall.Flock(int(run.lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		}
	})
	return run.id
}

// leftover says whether name is a run's of this checkout that has ended:
// its lock file is here and no process holds it.
func leftover(name string) bool {
	m := ownName.FindStringSubmatch(name)
	if m == nil || m[2] == RunID() {
		return false
	}
	f, err := os.Open(filepath.Join(runsDir(), m[2]+".lock"))
	if err != nil {
		return false // not this checkout's run
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return false // alive
	}
	return true
}

// forgetEndedRuns removes the lock files of ended runs, once the sweep has
// removed what they left.
func forgetEndedRuns() {
	locks, _ := filepath.Glob(filepath.Join(runsDir(), "*.lock"))
	for _, l := range locks {
		id := strings.TrimSuffix(filepath.Base(l), ".lock")
		if leftover("tvs-test-" + id + "-0") {
			os.Remove(l)
		}
	}
}

// resource is a container, network or volume, with its labels.
type resource struct {
	kind, id, name string
	labels         map[string]string
}

// labelled lists the containers (running or not), networks and volumes
// that match a label filter ("key" or "key=value").
func labelled(ctx context.Context, docker *client.Client, filter string) ([]resource, error) {
	f := make(client.Filters).Add("label", filter)
	var out []resource
	cs, err := docker.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, err
	}
	for _, c := range cs.Items {
		out = append(out, resource{"container", c.ID, strings.Join(c.Names, ","), c.Labels})
	}
	nets, err := docker.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return nil, err
	}
	for _, n := range nets.Items {
		out = append(out, resource{"network", n.ID, n.Name, n.Labels})
	}
	vols, err := docker.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return nil, err
	}
	for _, v := range vols.Items {
		out = append(out, resource{"volume", v.Name, v.Name, v.Labels})
	}
	return out, nil
}

// ownerLabels are the labels that name the project a resource belongs to:
// compose's, the harness's own (one-off containers), Swarm's.
var ownerLabels = []string{labelProject, labelOwner, labelStack}

// sweep removes what runs killed before their cleanup left: the containers,
// networks and volumes of their compose projects and one-off containers,
// their Swarm stacks and images, a swarm they made, and their folders. It
// returns what it removed, or "".
func sweep(ctx context.Context, docker *client.Client) (string, error) {
	projects := map[string]bool{}
	for _, label := range ownerLabels {
		rs, err := labelled(ctx, docker, label)
		if err != nil {
			return "", err
		}
		for _, r := range rs {
			if leftover(r.labels[label]) {
				projects[r.labels[label]] = true
			}
		}
	}
	var done []string
	for p := range projects {
		n, err := removeProject(ctx, docker, p)
		if err != nil {
			return strings.Join(done, ", "), err
		}
		done = append(done, fmt.Sprintf("%s (%s)", p, n))
	}
	if n, err := removeImages(ctx, docker, leftover); err != nil {
		return strings.Join(done, ", "), err
	} else if n > 0 {
		done = append(done, fmt.Sprintf("%d image tags", n))
	}
	if left, err := leaveSwarm(ctx, docker); err != nil {
		return strings.Join(done, ", "), err
	} else if left {
		done = append(done, "the single-node swarm a killed test made")
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "tvs-*"))
	for _, d := range dirs {
		if leftover(filepath.Base(d)) {
			_ = os.RemoveAll(d)
		}
	}
	forgetEndedRuns()
	return strings.Join(done, ", "), nil
}

// removeProject removes every container, Swarm service, network and
// volume of a compose project or Swarm stack by its labels, and says how
// many of each.
func removeProject(ctx context.Context, docker *client.Client, project string) (string, error) {
	var services, containers, networks, volumes int
	svcs, err := docker.ServiceList(ctx, client.ServiceListOptions{Filters: make(client.Filters).Add("label", labelStack+"="+project)})
	if err == nil { // not a swarm manager: no services
		for _, s := range svcs.Items {
			if _, err := docker.ServiceRemove(ctx, s.ID, client.ServiceRemoveOptions{}); err != nil {
				return "", fmt.Errorf("remove service %s: %w", s.Spec.Name, err)
			}
			services++
		}
	}
	// A network or volume is removable once no container holds it; Swarm
	// stops a removed service's tasks on its own time.
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := removeContainers(ctx, docker, project)
		if err != nil {
			return "", err
		}
		containers += n
		if n == 0 || time.Now().After(deadline) {
			break
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return "", err
		}
	}
	for _, label := range ownerLabels {
		rs, err := labelled(ctx, docker, label+"="+project)
		if err != nil {
			return "", err
		}
		for _, r := range rs {
			var remove func() error
			switch r.kind {
			case "network":
				networks++
				remove = func() error { _, err := docker.NetworkRemove(ctx, r.id, client.NetworkRemoveOptions{}); return err }
			case "volume":
				volumes++
				remove = func() error {
					_, err := docker.VolumeRemove(ctx, r.id, client.VolumeRemoveOptions{Force: true})
					return err
				}
			default:
				continue
			}
			if err := retry(ctx, deadline, remove); err != nil && !cerrdefs.IsNotFound(err) {
				return "", fmt.Errorf("remove %s %s: %w", r.kind, r.name, err)
			}
		}
	}
	return fmt.Sprintf("%d services, %d containers, %d networks, %d volumes", services, containers, networks, volumes), nil
}

// removeContainers removes the containers labelled with project, and says
// how many there were.
func removeContainers(ctx context.Context, docker *client.Client, project string) (int, error) {
	n := 0
	for _, label := range ownerLabels {
		rs, err := labelled(ctx, docker, label+"="+project)
		if err != nil {
			return n, err
		}
		for _, r := range rs {
			if r.kind != "container" {
				continue
			}
			_, err := docker.ContainerRemove(ctx, r.id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) { // gone, or being removed already
				return n, fmt.Errorf("remove container %.12s: %w", r.id, err)
			}
			n++
		}
	}
	return n, nil
}

// removeImages untags the tvs images whose tag match says: those a killed
// run tagged for itself (tvs-webapp:tvs-test-PID-..., as the Swarm test and
// UpCLI do), or one stack's.
func removeImages(ctx context.Context, docker *client.Client, match func(tag string) bool) (int, error) {
	res, err := docker.ImageList(ctx, client.ImageListOptions{})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, img := range res.Items {
		for _, ref := range img.RepoTags {
			_, tag, ok := strings.Cut(ref, ":")
			if ok && strings.HasPrefix(ref, "tvs-") && match(tag) {
				if _, err := docker.ImageRemove(ctx, ref, client.ImageRemoveOptions{}); err != nil {
					return n, fmt.Errorf("remove image %s: %w", ref, err)
				}
				n++
			}
		}
	}
	return n, nil
}

// leaveSwarm leaves the swarm this node is in if a killed test made it
// (SwarmLabel on the node), and says whether it did.
func leaveSwarm(ctx context.Context, docker *client.Client) (bool, error) {
	info, err := docker.Info(ctx, client.InfoOptions{})
	if err != nil {
		return false, err
	}
	sw := info.Info.Swarm
	if sw.LocalNodeState != "active" || !sw.ControlAvailable {
		return false, nil
	}
	node, err := docker.NodeInspect(ctx, sw.NodeID, client.NodeInspectOptions{})
	if err != nil {
		return false, err
	}
	owner := node.Node.Spec.Labels[SwarmLabel]
	if owner == "" || !leftover("tvs-test-"+owner+"-0") {
		return false, nil
	}
	if _, err := docker.SwarmLeave(ctx, client.SwarmLeaveOptions{Force: true}); err != nil {
		return false, fmt.Errorf("leave the swarm a killed test made: %w", err)
	}
	return true, nil
}

// retry calls f until it succeeds, finds nothing to remove, or the
// deadline passes.
func retry(ctx context.Context, deadline time.Time, f func() error) error {
	for {
		err := f()
		if err == nil || cerrdefs.IsNotFound(err) || time.Now().After(deadline) {
			return err
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
}

// leftovers lists the containers, networks and volumes still labelled with
// project.
func leftovers(ctx context.Context, docker *client.Client, project string) ([]string, error) {
	var out []string
	for _, label := range ownerLabels {
		rs, err := labelled(ctx, docker, label+"="+project)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			out = append(out, r.kind+" "+r.name)
		}
	}
	return out, nil
}
