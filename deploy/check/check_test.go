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
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
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

// loadCompose loads deploy/<file> with compose's own loader and schema, as `docker compose
// config` does, with bind mounts resolved to absolute paths.
func loadCompose(t *testing.T, file string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "deploy", file)},
		cli.WithEnv([]string{"RESERVO_JWT_SECRET=" + strings.Repeat("x", 32), "RESERVO_WEBHOOK_SECRET=x",
			"RESERVO_TEMPORAL_AUTH_KEY=x", "RESERVO_PAYLOAD_KEYS=k1:x", "RESERVO_STAFF_SESSION_SECRET=" + strings.Repeat("x", 32),
			"TEMPORAL_DEV_AUTH_KEYS=x"}),
		cli.WithResolvedPaths(true))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose config: %v", err)
	}
	return p
}

func TestCompose(t *testing.T) {
	known := settings(t)
	for _, file := range []string{"docker-compose.yml", "docker-compose.scale.yml"} {
		t.Run(file, func(t *testing.T) {
			p := loadCompose(t, file)
			if len(p.Services) == 0 {
				t.Fatal("no services")
			}
			for name, s := range p.Services {
				for _, port := range s.Ports {
					if port.HostIP != "127.0.0.1" {
						t.Errorf("%s service %s publishes %s on every interface: bind it to 127.0.0.1", file, name, port.Published)
					}
				}
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
				for _, want := range []string{"postgres", "postgres-replica", "redis-1", "redis-6", "redis-cluster", "temporal-schema",
					"temporal", "kafka", "elasticsearch", "cassandra", "reservo-migrate", "haproxy", "reservo-api", "reservo-worker",
					"reservo-consumer", "reservo-staff", "temporal-setup"} {
					if _, ok := p.Services[want]; !ok {
						t.Errorf("the scale stack lacks %s", want)
					}
				}
				if ui := p.Services["temporal-ui"]; len(ui.Ports) != 0 || ui.Environment["TEMPORAL_DISABLE_WRITE_ACTIONS"] == nil ||
					*ui.Environment["TEMPORAL_DISABLE_WRITE_ACTIONS"] != "true" {
					t.Errorf("the scale stack's Web UI: ports %v, write actions %v; want none published, write actions off", ui.Ports,
						ui.Environment["TEMPORAL_DISABLE_WRITE_ACTIONS"])
				}
				if v := p.Services["temporal"].Environment["TEMPORAL_AUTH_AUTHORIZER"]; v == nil || *v != "default" {
					t.Error("the scale stack's Temporal checks no token")
				}
				for _, role := range []string{"reservo-api", "reservo-worker", "reservo-consumer", "reservo-staff"} {
					if s := p.Services[role]; s.Environment["RESERVO_PROFILE"] == nil || *s.Environment["RESERVO_PROFILE"] != "scale" {
						t.Errorf("%s does not run the scale profile", role)
					}
				}
			}
		})
	}
}

// manifests decodes every document of deploy/k8s strictly: an unknown or duplicate field is
// an error, as kubectl's server-side validation.
func manifests(t *testing.T) []runtime.Object {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "deploy", "k8s", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	decoder := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	var out []runtime.Object
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
			obj, _, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				t.Errorf("%s document %d: %v", filepath.Base(f), i, err)
				continue
			}
			out = append(out, obj)
		}
	}
	return out
}

func TestKubernetes(t *testing.T) {
	known := settings(t)
	config := map[string]bool{}
	var pods []struct {
		where string
		spec  corev1.PodSpec
	}
	kinds := map[string]int{}
	for _, obj := range manifests(t) {
		kind := reflect.TypeOf(obj).Elem().Name()
		kinds[kind]++
		where := kind
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
	for _, want := range []string{"Deployment", "StatefulSet", "Job", "Service", "ConfigMap", "HorizontalPodAutoscaler", "PodDisruptionBudget"} {
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
	if got := strings.Join(roles, " "); got != "consume migrate ops serve staff worker" {
		t.Errorf("reservo roles %q, want consume migrate ops serve staff worker", got)
	}
}

// TestKubernetes_SupportPlaneIsForStaffOnly: the Temporal server requires tokens (Reservo's
// JWKS), the Web UI offers no write action and decodes through the staff plane, only the staff
// plane reaches the UI, only Reservo's pods and the UI reach the frontend, and the one Ingress
// routes to the staff plane, never to the UI or to Temporal.
func TestKubernetes_SupportPlaneIsForStaffOnly(t *testing.T) {
	objs := manifests(t)
	env := func(kind, name string) map[string]string {
		out := map[string]string{}
		for _, o := range objs {
			if d, ok := o.(*appsv1.Deployment); ok && kind == "Deployment" && d.Name == name {
				for _, e := range d.Spec.Template.Spec.Containers[0].Env {
					out[e.Name] = e.Value
				}
				return out
			}
		}
		t.Fatalf("no %s %s", kind, name)
		return nil
	}
	server := env("Deployment", "temporal")
	for k, want := range map[string]string{"TEMPORAL_AUTH_AUTHORIZER": "default", "TEMPORAL_AUTH_CLAIM_MAPPER": "default",
		"USE_INTERNAL_FRONTEND": "true", "TEMPORAL_JWT_KEY_SOURCE1": "http://reservo-staff.reservo.svc.cluster.local:8243/.well-known/jwks.json"} {
		if server[k] != want {
			t.Errorf("temporal %s=%q, want %q", k, server[k], want)
		}
	}
	ui := env("Deployment", "temporal-ui")
	for _, k := range []string{"TEMPORAL_DISABLE_WRITE_ACTIONS", "TEMPORAL_WORKFLOW_TERMINATE_DISABLED", "TEMPORAL_WORKFLOW_RESET_DISABLED",
		"TEMPORAL_WORKFLOW_SIGNAL_DISABLED", "TEMPORAL_WORKFLOW_UPDATE_DISABLED", "TEMPORAL_BATCH_ACTIONS_DISABLED", "TEMPORAL_CODEC_INCLUDE_CREDENTIALS"} {
		if ui[k] != "true" {
			t.Errorf("temporal-ui %s=%q, want true", k, ui[k])
		}
	}
	if !strings.HasSuffix(ui["TEMPORAL_CODEC_ENDPOINT"], "/codec") || !strings.HasPrefix(ui["TEMPORAL_CODEC_ENDPOINT"], "https://") {
		t.Errorf("temporal-ui codec endpoint %q", ui["TEMPORAL_CODEC_ENDPOINT"])
	}
	policies := map[string]*networkingv1.NetworkPolicy{}
	var ingresses []*networkingv1.Ingress
	for _, o := range objs {
		switch o := o.(type) {
		case *networkingv1.NetworkPolicy:
			policies[o.Spec.PodSelector.MatchLabels["app"]] = o
		case *networkingv1.Ingress:
			ingresses = append(ingresses, o)
		case *corev1.Service:
			if o.Spec.Type != "" && o.Spec.Type != corev1.ServiceTypeClusterIP {
				t.Errorf("Service %s is %s: only the Ingress takes traffic from outside", o.Name, o.Spec.Type)
			}
		}
	}
	p := policies["temporal-ui"]
	if p == nil || len(p.Spec.Ingress) != 1 || len(p.Spec.Ingress[0].From) != 1 || p.Spec.Ingress[0].From[0].PodSelector.MatchLabels["app"] != "reservo-staff" {
		t.Errorf("the Web UI's network policy %+v: want ingress from reservo-staff only", p)
	}
	if policies["temporal"] == nil {
		t.Error("no network policy for the Temporal server")
	}
	for _, in := range ingresses {
		for _, r := range in.Spec.Rules {
			for _, path := range r.HTTP.Paths {
				if name := path.Backend.Service.Name; name != "reservo-staff" && name != "reservo-api" {
					t.Errorf("Ingress %s routes to %s", in.Name, name)
				}
			}
		}
	}
	if len(ingresses) == 0 {
		t.Error("no Ingress for the staff plane")
	}
}
