// Package check validates the deploy files that cannot run here (no container engine): the
// compose files with compose's own loader and schema, and the Kubernetes manifests decoded
// strictly into the API's types. It also keeps them consistent with the binary: every RESERVO_*
// variable they set is a setting of config.Config.
package check

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

const root = "../.."

// settings returns the RESERVO_* names config.Config reads.
func settings(t *testing.T) map[string]bool {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(root, "config", "config.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`env:"(RESERVO_[A-Z0-9_]+)"`).FindAllStringSubmatch(string(src), -1) {
		out[m[1]] = true
	}
	if len(out) < 20 {
		t.Fatalf("found only %d settings in config.go", len(out))
	}
	return out
}

func checkNames(t *testing.T, where string, names []string, known map[string]bool) {
	t.Helper()
	for _, n := range names {
		if strings.HasPrefix(n, "RESERVO_") && !known[n] {
			t.Errorf("%s sets %s, which is no setting of reservo (config/config.go)", where, n)
		}
	}
}

func TestCompose(t *testing.T) {
	known := settings(t)
	for _, file := range []string{"docker-compose.yml", "docker-compose.scale.yml"} {
		t.Run(file, func(t *testing.T) {
			opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "deploy", file)},
				cli.WithEnv([]string{"RESERVO_JWT_SECRET=" + strings.Repeat("x", 32), "RESERVO_WEBHOOK_SECRET=x"}),
				cli.WithResolvedPaths(true))
			if err != nil {
				t.Fatal(err)
			}
			p, err := opts.LoadProject(context.Background())
			if err != nil {
				t.Fatalf("compose config: %v", err)
			}
			if len(p.Services) == 0 {
				t.Fatal("no services")
			}
			for name, s := range p.Services {
				var names []string
				for k := range s.Environment {
					names = append(names, k)
				}
				checkNames(t, file+" service "+name, names, known)
				for _, v := range s.Volumes {
					if v.Type == types.VolumeTypeBind {
						if _, err := os.Stat(v.Source); err != nil {
							t.Errorf("%s service %s mounts %s: %v", file, name, v.Source, err)
						}
					}
				}
			}
			if file == "docker-compose.scale.yml" {
				for _, want := range []string{"postgres", "postgres-replica", "redis", "temporal", "kafka", "elasticsearch",
					"cassandra", "reservo-migrate", "reservo-api", "reservo-worker", "reservo-consumer"} {
					if _, ok := p.Services[want]; !ok {
						t.Errorf("the scale stack lacks %s", want)
					}
				}
				for _, role := range []string{"reservo-api", "reservo-worker", "reservo-consumer"} {
					if s := p.Services[role]; s.Environment["RESERVO_PROFILE"] == nil || *s.Environment["RESERVO_PROFILE"] != "scale" {
						t.Errorf("%s does not run the scale profile", role)
					}
				}
			}
		})
	}
}

func TestKubernetes(t *testing.T) {
	known := settings(t)
	files, err := filepath.Glob(filepath.Join(root, "deploy", "k8s", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	// Strict: an unknown or duplicate field is an error, as kubectl's server-side validation.
	decoder := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	config := map[string]bool{}
	var pods []struct {
		where string
		spec  corev1.PodSpec
	}
	kinds := map[string]int{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufioReader(raw))
		for i := 0; ; i++ {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			obj, gvk, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				t.Errorf("%s document %d: %v", filepath.Base(f), i, err)
				continue
			}
			kinds[gvk.Kind]++
			where := filepath.Base(f) + " " + gvk.Kind
			switch o := obj.(type) {
			case *corev1.ConfigMap:
				if o.Name == "reservo" {
					for k := range o.Data {
						config[k] = true
					}
				}
			case *appsv1.Deployment:
				pods = append(pods, struct {
					where string
					spec  corev1.PodSpec
				}{where + " " + o.Name, o.Spec.Template.Spec})
			case *appsv1.StatefulSet:
				pods = append(pods, struct {
					where string
					spec  corev1.PodSpec
				}{where + " " + o.Name, o.Spec.Template.Spec})
			case *batchv1.Job:
				pods = append(pods, struct {
					where string
					spec  corev1.PodSpec
				}{where + " " + o.Name, o.Spec.Template.Spec})
			case runtime.Object:
			}
		}
	}
	var names []string
	for k := range config {
		names = append(names, k)
	}
	checkNames(t, "ConfigMap reservo", names, known)
	if !config["RESERVO_PROFILE"] {
		t.Error("the ConfigMap does not set RESERVO_PROFILE")
	}
	for _, p := range pods {
		for _, c := range p.spec.Containers {
			if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("%s container %s has no memory request or limit", p.where, c.Name)
			}
			var envs []string
			for _, e := range c.Env {
				envs = append(envs, e.Name)
			}
			checkNames(t, p.where, envs, known)
		}
	}
	for _, want := range []string{"Deployment", "StatefulSet", "Job", "Service", "ConfigMap", "HorizontalPodAutoscaler"} {
		if kinds[want] == 0 {
			t.Errorf("no %s in the manifests", want)
		}
	}
	var roles []string
	for _, p := range pods {
		for _, c := range p.spec.Containers {
			if c.Image == "reservo:dev" && len(c.Args) > 0 {
				roles = append(roles, c.Args[0])
			}
		}
	}
	slices.Sort(roles)
	if got := strings.Join(roles, " "); got != "consume migrate serve worker" {
		t.Errorf("reservo roles %q, want consume migrate serve worker", got)
	}
}
