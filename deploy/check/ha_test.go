package check

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The highly available shape of the scale profile: any one process may die. Reservo's roles and
// Temporal run two or more of each, with readiness on /readyz (the Temporal frontend's gRPC
// health check) and a disruption budget; Temporal is the temporalio/server image of the version
// the repository builds (deploy/temporal-dev/go.mod), its schema made by the admin tools of the
// same version; Redis is a cluster of three masters with a replica each. The compose file has
// the same shape, with HAProxy as the load balancer.

// redisNodes is how many nodes the Redis Cluster has: three masters, a replica each.
const redisNodes = 6

// temporalServices are the services each Temporal server runs.
var temporalServices = []string{"frontend", "internal-frontend", "history", "matching", "worker"}

// temporalVersion is the go.temporal.io/server version of the local Temporal server
// (deploy/temporal-dev), which the deployments' images must match.
func temporalVersion(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(root, "deploy", "temporal-dev", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*go\.temporal\.io/server v(\d+\.\d+\.\d+)\s*$`).FindSubmatch(src)
	if m == nil {
		t.Fatal("deploy/temporal-dev/go.mod requires no go.temporal.io/server")
	}
	return string(m[1])
}

// deployFile reads a file of deploy/.
func deployFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "deploy", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTemporalSchemaScript: the schema script (run by the k8s Job and the compose service)
// makes both of Temporal's databases and brings each up to the admin tools' schema, with
// nothing but temporal-sql-tool.
func TestTemporalSchemaScript(t *testing.T) {
	script := deployFile(t, "compose/temporal-schema.sh")
	for _, want := range []string{"temporal-sql-tool", "create-database", "setup-schema", "update-schema",
		"temporal_visibility", "postgresql/v12/temporal", "postgresql/v12/visibility", "set -eu"} {
		if !strings.Contains(script, want) {
			t.Errorf("compose/temporal-schema.sh does not say %q", want)
		}
	}
}

func TestCompose_HighlyAvailable(t *testing.T) {
	version := temporalVersion(t)
	for _, file := range []string{"docker-compose.yml", "docker-compose.scale.yml"} {
		for name, s := range loadCompose(t, file).Services {
			if strings.Contains(s.Image, "auto-setup") {
				t.Errorf("%s service %s runs %s: the deprecated auto-setup image; use temporalio/server and the admin tools", file, name, s.Image)
			}
		}
	}

	p := loadCompose(t, "docker-compose.scale.yml")
	svc := func(name string) types.ServiceConfig {
		s, ok := p.Services[name]
		if !ok {
			t.Fatalf("the scale stack has no service %s", name)
		}
		return s
	}
	env := func(s types.ServiceConfig, k string) string {
		if v := s.Environment[k]; v != nil {
			return *v
		}
		return ""
	}

	for _, name := range []string{"reservo-api", "reservo-worker", "reservo-consumer", "temporal"} {
		s := svc(name)
		if n := s.GetScale(); n < 2 {
			t.Errorf("%s runs %d container(s), want 2 or more", name, n)
		}
	}
	// Containers of a scaled service cannot share one host port.
	for name, s := range p.Services {
		for _, port := range s.Ports {
			if n := s.GetScale(); n > 1 && publishedPorts(port.Published) < n {
				t.Errorf("%s runs %d containers but publishes %q: give it a range of %d ports, or none", name, n, port.Published, n)
			}
		}
	}

	// The API is reached through HAProxy only, which checks /readyz.
	api := svc("reservo-api")
	if len(api.Ports) != 0 {
		t.Errorf("reservo-api publishes %v: only HAProxy should", api.Ports)
	}
	lb := svc("haproxy")
	if lb.Image != "haproxy:3.0" {
		t.Errorf("haproxy image %q, want haproxy:3.0", lb.Image)
	}
	if len(lb.Ports) != 1 || lb.Ports[0].Target != 8080 || lb.Ports[0].Published != "8080" {
		t.Errorf("haproxy publishes %+v, want the API's 8080", lb.Ports)
	}
	if !mounts(lb, "compose/haproxy.cfg") || !slices.ContainsFunc(lb.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Target == "/usr/local/etc/haproxy/haproxy.cfg"
	}) {
		t.Error("haproxy does not mount deploy/compose/haproxy.cfg as its configuration")
	}
	checkHAProxy(t, deployFile(t, "compose/haproxy.cfg"), svc)
	var lbAddr string
	for _, n := range lb.Networks {
		if n != nil && n.Ipv4Address != "" {
			lbAddr = n.Ipv4Address
		}
	}
	if lbAddr == "" || env(api, "RESERVO_TRUSTED_PROXIES") != lbAddr {
		t.Errorf("RESERVO_TRUSTED_PROXIES=%q, HAProxy at %q: the API must trust HAProxy's X-Forwarded-For, and nobody else's",
			env(api, "RESERVO_TRUSTED_PROXIES"), lbAddr)
	}

	// Temporal: the server image of the repository's version, its schema first.
	temporal := svc("temporal")
	if want := "temporalio/server:" + version; temporal.Image != want {
		t.Errorf("temporal image %q, want %q (go.temporal.io/server in deploy/temporal-dev/go.mod)", temporal.Image, want)
	}
	schema := svc("temporal-schema")
	if want := "temporalio/admin-tools:" + version; schema.Image != want {
		t.Errorf("temporal-schema image %q, want %q", schema.Image, want)
	}
	if d, ok := temporal.DependsOn["temporal-schema"]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
		t.Errorf("temporal depends on temporal-schema %+v, want condition %s", d, types.ServiceConditionCompletedSuccessfully)
	}
	if !mounts(schema, "compose/temporal-schema.sh") {
		t.Error("temporal-schema does not run deploy/compose/temporal-schema.sh")
	}
	if !mounts(temporal, "compose/temporal-dynamicconfig.yaml") {
		t.Error("temporal does not mount deploy/compose/temporal-dynamicconfig.yaml (the image has no dynamic config of its own)")
	}
	checkTemporalEnv(t, "compose temporal", func(k string) string { return env(temporal, k) })
	if env(temporal, "TEMPORAL_JWT_KEY_SOURCE1") != "http://reservo-staff:8243/.well-known/jwks.json" {
		t.Errorf("temporal checks tokens against %q, want reservo-staff's JWKS", env(temporal, "TEMPORAL_JWT_KEY_SOURCE1"))
	}
	if env(api, "RESERVO_TEMPORAL_ADDR") != "temporal:7233" {
		t.Errorf("RESERVO_TEMPORAL_ADDR=%q, want temporal:7233 (both servers)", env(api, "RESERVO_TEMPORAL_ADDR"))
	}

	// Redis: six cluster nodes, made one cluster (three masters, a replica each), and Reservo
	// pointed at all of them.
	var nodes []string
	for name, s := range p.Services {
		if slices.Contains(s.Command, "--cluster-enabled") {
			if !mounts(s, "compose/redis-cluster-node.sh") || env(s, "REDIS_ANNOUNCE_HOSTNAME") != name {
				t.Errorf("redis node %s: want deploy/compose/redis-cluster-node.sh, announcing its name", name)
			}
			nodes = append(nodes, name+":6379")
		}
	}
	slices.Sort(nodes)
	if len(nodes) != redisNodes {
		t.Errorf("the Redis Cluster has %d nodes (%v), want %d", len(nodes), nodes, redisNodes)
	}
	create := svc("redis-cluster")
	if got := slices.Sorted(slices.Values(create.Command)); !slices.Equal(got, nodes) || !mounts(create, "compose/redis-cluster-create.sh") {
		t.Errorf("redis-cluster makes a cluster of %v with %v, want %v with deploy/compose/redis-cluster-create.sh", create.Command, create.Entrypoint, nodes)
	}
	if got := strings.Split(env(api, "RESERVO_REDIS_ADDR"), ","); !slices.Equal(slices.Sorted(slices.Values(got)), nodes) {
		t.Errorf("RESERVO_REDIS_ADDR=%q, want the cluster's nodes %v", env(api, "RESERVO_REDIS_ADDR"), nodes)
	}
	for _, role := range []string{"reservo-api", "reservo-worker", "reservo-staff"} {
		if d, ok := svc(role).DependsOn["redis-cluster"]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s does not wait for the Redis Cluster to be made", role)
		}
	}
	checkRedisScripts(t)
}

// publishedPorts counts the host ports of a published port or range ("8080", "7233-7234").
func publishedPorts(published string) int {
	var lo, hi int
	if _, err := fmt.Sscanf(published, "%d-%d", &lo, &hi); err == nil && hi >= lo {
		return hi - lo + 1
	}
	return 1
}

// mounts reports whether s bind-mounts the file deploy/<path>.
func mounts(s types.ServiceConfig, path string) bool {
	abs, err := filepath.Abs(filepath.Join(root, "deploy", path))
	if err != nil {
		return false
	}
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && v.Source == abs {
			return true
		}
	}
	return false
}

// checkHAProxy: HAProxy checks /readyz of every API container (found through Docker's DNS, so
// that scaling needs no change), retries a request that could not be sent elsewhere, and its
// own 503 reads like Reservo's (problem details, Retry-After).
func checkHAProxy(t *testing.T, cfg string, svc func(string) types.ServiceConfig) {
	t.Helper()
	lines := map[string]bool{}
	for _, l := range strings.Split(cfg, "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" && !strings.HasPrefix(l, "#") {
			lines[l] = true
		}
	}
	for _, want := range []string{"option httpchk", "http-check send meth GET uri /readyz", "http-check expect status 200",
		"option redispatch 1", "option forwardfor", "bind :8080", "nameserver dns 127.0.0.11:53"} {
		if !lines[want] {
			t.Errorf("haproxy.cfg lacks %q", want)
		}
	}
	var template bool
	for l := range lines {
		if strings.HasPrefix(l, "server-template ") && strings.HasSuffix(l, " reservo-api:8080") {
			template = true
		}
		if strings.HasPrefix(l, "default-server ") && (!strings.Contains(l, " check") || !strings.Contains(l, "resolvers docker")) {
			t.Errorf("haproxy.cfg: %q: want every server checked and resolved through Docker's DNS", l)
		}
		if strings.HasPrefix(l, "http-error status 503 ") && (!strings.Contains(l, "application/problem+json") ||
			!strings.Contains(l, "hdr Retry-After") || !strings.Contains(l, `"code":"temporarily_unavailable"`)) {
			t.Errorf("haproxy.cfg: %q: want Reservo's 503 (problem details, Retry-After)", l)
		}
	}
	if !template {
		t.Error("haproxy.cfg has no server-template for reservo-api:8080")
	}
	if port := svc("reservo-api").Environment["RESERVO_HTTP_ADDR"]; port == nil || !strings.HasSuffix(*port, ":8080") {
		t.Errorf("reservo-api listens on %v, HAProxy sends to 8080", port)
	}
}

// checkTemporalEnv: every server runs every service with the internal frontend, tokens
// required (the default authorizer and claim mapper), on PostgreSQL, with a dynamic config.
func checkTemporalEnv(t *testing.T, where string, env func(string) string) {
	t.Helper()
	for k, want := range map[string]string{"TEMPORAL_AUTH_AUTHORIZER": "default", "TEMPORAL_AUTH_CLAIM_MAPPER": "default",
		"USE_INTERNAL_FRONTEND": "true", "DB": "postgres12", "BIND_ON_IP": "0.0.0.0",
		"DYNAMIC_CONFIG_FILE_PATH": "/etc/temporal/config/dynamicconfig/docker.yaml"} {
		if got := env(k); got != want {
			t.Errorf("%s %s=%q, want %q", where, k, got, want)
		}
	}
	if got := strings.Split(env("TEMPORAL_SERVICES"), ","); !slices.Equal(got, temporalServices) {
		t.Errorf("%s TEMPORAL_SERVICES=%q, want %s", where, env("TEMPORAL_SERVICES"), strings.Join(temporalServices, ","))
	}
	for _, k := range []string{"SERVICES", "SKIP_SCHEMA_SETUP", "SKIP_DEFAULT_NAMESPACE_CREATION"} {
		if env(k) != "" {
			t.Errorf("%s sets %s, which only the auto-setup image read", where, k)
		}
	}
}

// checkRedisScripts: the node script starts redis-server through the image's entrypoint (which
// drops root), announcing the node's name; the cluster is made with a replica per master.
func checkRedisScripts(t *testing.T) {
	t.Helper()
	node := deployFile(t, "compose/redis-cluster-node.sh")
	if !strings.Contains(node, `exec docker-entrypoint.sh redis-server "$@" --cluster-announce-hostname "$REDIS_ANNOUNCE_HOSTNAME"`) {
		t.Error("redis-cluster-node.sh does not start redis-server announcing REDIS_ANNOUNCE_HOSTNAME")
	}
	if create := deployFile(t, "compose/redis-cluster-create.sh"); !strings.Contains(create,
		"redis-cli --cluster create $addrs --cluster-replicas 1 --cluster-yes") {
		t.Error("redis-cluster-create.sh does not make a cluster with a replica per master")
	}
}

// workload is a Deployment's or StatefulSet's pods.
type workload struct {
	kind, name string
	replicas   int32
	labels     map[string]string
	spec       corev1.PodSpec
}

func TestKubernetes_HighlyAvailable(t *testing.T) {
	version := temporalVersion(t)
	objs := manifests(t)
	var loads []workload
	var pdbs []*policyv1.PodDisruptionBudget
	var jobs []*batchv1.Job
	configMaps := map[string]*corev1.ConfigMap{}
	services := map[string]*corev1.Service{}
	var hpas []*autoscalingv2.HorizontalPodAutoscaler
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.Deployment:
			loads = append(loads, workload{"Deployment", o.Name, replicas(o.Spec.Replicas), o.Spec.Template.Labels, o.Spec.Template.Spec})
		case *appsv1.StatefulSet:
			loads = append(loads, workload{"StatefulSet", o.Name, replicas(o.Spec.Replicas), o.Spec.Template.Labels, o.Spec.Template.Spec})
		case *policyv1.PodDisruptionBudget:
			pdbs = append(pdbs, o)
		case *batchv1.Job:
			jobs = append(jobs, o)
		case *corev1.ConfigMap:
			configMaps[o.Name] = o
		case *corev1.Service:
			services[o.Name] = o
		case *autoscalingv2.HorizontalPodAutoscaler:
			hpas = append(hpas, o)
		}
	}
	for _, j := range jobs {
		loads = append(loads, workload{"Job", j.Name, 1, j.Spec.Template.Labels, j.Spec.Template.Spec})
	}
	config := configMaps["reservo"]
	if config == nil {
		t.Fatal("no ConfigMap reservo")
	}

	// No deprecated image anywhere.
	for _, w := range loads {
		for _, c := range slices.Concat(w.spec.InitContainers, w.spec.Containers) {
			if strings.Contains(c.Image, "auto-setup") {
				t.Errorf("%s %s runs %s: the deprecated auto-setup image; use temporalio/server and the admin tools", w.kind, w.name, c.Image)
			}
		}
	}

	// Every Deployment (Reservo's roles, Temporal, its Web UI) runs two pods or more, each
	// container probed for readiness and liveness; every workload of two or more has a budget
	// that keeps all but one up.
	byName := map[string]workload{}
	for _, w := range loads {
		byName[w.kind+"/"+w.name] = w
		if w.kind == "Deployment" {
			if w.replicas < 2 {
				t.Errorf("Deployment %s runs %d pod(s), want 2 or more", w.name, w.replicas)
			}
			for _, c := range w.spec.Containers {
				if c.ReadinessProbe == nil || c.LivenessProbe == nil {
					t.Errorf("Deployment %s container %s: readiness probe %v, liveness probe %v; want both", w.name, c.Name,
						c.ReadinessProbe != nil, c.LivenessProbe != nil)
				}
			}
		}
		if w.kind != "Job" && w.replicas >= 2 {
			checkBudget(t, w, pdbs)
		}
	}

	// Reservo's roles: ready on /readyz, the API on its own port (the Service and the Ingress
	// route by it), the others on the operations listener.
	httpPort, metricsPort := addrPort(t, config.Data["RESERVO_HTTP_ADDR"]), addrPort(t, config.Data["RESERVO_METRICS_ADDR"])
	roles := map[string]string{}
	for _, w := range loads {
		if w.kind != "Deployment" {
			continue
		}
		for _, c := range w.spec.Containers {
			if c.Image != "reservo:dev" || len(c.Args) == 0 {
				continue
			}
			roles[c.Args[0]] = w.name
			want := metricsPort
			switch c.Args[0] {
			case "serve":
				want = httpPort
			case "staff":
				continue // the staff plane has no engine of its own to wait for: /healthz
			}
			r := c.ReadinessProbe
			if r == nil || r.HTTPGet == nil || r.HTTPGet.Path != "/readyz" || containerPort(c, r.HTTPGet.Port) != want {
				t.Errorf("Deployment %s (reservo %s): readiness %+v, want GET /readyz on port %d", w.name, c.Args[0], r, want)
			}
		}
	}
	for _, role := range []string{"serve", "worker", "consume", "staff"} {
		if roles[role] == "" {
			t.Errorf("no Deployment runs reservo %s", role)
		}
	}
	for _, h := range hpas {
		if h.Spec.ScaleTargetRef.Name == roles["serve"] && (h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2) {
			t.Errorf("the API's autoscaler may scale it to %v pod(s), want 2 or more", h.Spec.MinReplicas)
		}
	}

	checkKubernetesTemporal(t, version, byName, configMaps)
	checkKubernetesRedis(t, byName, configMaps, services, config)
}

func replicas(n *int32) int32 {
	if n == nil {
		return 1 // Kubernetes' default
	}
	return *n
}

// addrPort is the port of a host:port setting.
func addrPort(t *testing.T, addr string) int32 {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	var n int32
	if _, err := fmt.Sscan(port, &n); err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return n
}

// containerPort resolves a probe's port (a number, or the name of one of c's ports).
func containerPort(c corev1.Container, p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	return 0
}

// checkBudget: one PodDisruptionBudget selects w's pods and lets at most one of them go at a
// time, and lets a pod that is not ready go (a drain is not blocked by an engine that is away).
func checkBudget(t *testing.T, w workload, pdbs []*policyv1.PodDisruptionBudget) {
	t.Helper()
	var found []*policyv1.PodDisruptionBudget
	for _, b := range pdbs {
		if b.Spec.Selector != nil && labels.SelectorFromSet(b.Spec.Selector.MatchLabels).Matches(labels.Set(w.labels)) {
			found = append(found, b)
		}
	}
	if len(found) != 1 {
		t.Errorf("%s %s (%d pods): %d PodDisruptionBudgets select its pods, want 1", w.kind, w.name, w.replicas, len(found))
		return
	}
	b := found[0]
	one := intstr.FromInt32(1)
	if !(b.Spec.MinAvailable != nil && *b.Spec.MinAvailable == one && b.Spec.MaxUnavailable == nil) &&
		!(b.Spec.MaxUnavailable != nil && *b.Spec.MaxUnavailable == one && b.Spec.MinAvailable == nil) {
		t.Errorf("PodDisruptionBudget %s: minAvailable %v, maxUnavailable %v; want minAvailable 1 or maxUnavailable 1", b.Name,
			b.Spec.MinAvailable, b.Spec.MaxUnavailable)
	}
	if w.kind == "Deployment" && (b.Spec.UnhealthyPodEvictionPolicy == nil || *b.Spec.UnhealthyPodEvictionPolicy != policyv1.AlwaysAllow) {
		t.Errorf("PodDisruptionBudget %s keeps pods that are not ready: want unhealthyPodEvictionPolicy AlwaysAllow", b.Name)
	}
}

// checkKubernetesTemporal: two servers of the repository's version, each running every
// service and announcing its pod's address to the other, ready on the frontend's health check,
// with the dynamic config of the compose file; the schema Job runs the same script as compose
// in the admin tools of the same version.
func checkKubernetesTemporal(t *testing.T, version string, byName map[string]workload, configMaps map[string]*corev1.ConfigMap) {
	t.Helper()
	w, ok := byName["Deployment/temporal"]
	if !ok {
		t.Fatal("no Deployment temporal")
	}
	c := w.spec.Containers[0]
	if want := "temporalio/server:" + version; c.Image != want {
		t.Errorf("temporal image %q, want %q (go.temporal.io/server in deploy/temporal-dev/go.mod)", c.Image, want)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	checkTemporalEnv(t, "Deployment temporal", func(k string) string { return env[k].Value })
	if ip := env["POD_IP"]; ip.ValueFrom == nil || ip.ValueFrom.FieldRef == nil || ip.ValueFrom.FieldRef.FieldPath != "status.podIP" {
		t.Error("temporal: POD_IP does not come from the pod's status.podIP")
	}
	if got := env["TEMPORAL_BROADCAST_ADDRESS"].Value; got != "$(POD_IP)" {
		t.Errorf("temporal TEMPORAL_BROADCAST_ADDRESS=%q, want $(POD_IP): the servers reach one another at their pods' addresses", got)
	}
	if slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "POD_IP" }) >
		slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "TEMPORAL_BROADCAST_ADDRESS" }) {
		t.Error("temporal: POD_IP must come before TEMPORAL_BROADCAST_ADDRESS, which refers to it")
	}
	if r := c.ReadinessProbe; r == nil || r.GRPC == nil || r.GRPC.Port != 7233 || r.GRPC.Service == nil ||
		*r.GRPC.Service != "temporal.api.workflowservice.v1.WorkflowService" {
		t.Errorf("temporal readiness %+v, want the frontend's gRPC health check on 7233", r)
	}
	var dynamic string
	for _, v := range w.spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name && m.MountPath+"/docker.yaml" == env["DYNAMIC_CONFIG_FILE_PATH"].Value {
				dynamic = v.ConfigMap.Name
			}
		}
	}
	if cm := configMaps[dynamic]; cm == nil || cm.Data["docker.yaml"] != deployFile(t, "compose/temporal-dynamicconfig.yaml") {
		t.Errorf("temporal's dynamic config (ConfigMap %q) is not deploy/compose/temporal-dynamicconfig.yaml", dynamic)
	}

	job, ok := byName["Job/temporal-schema"]
	if !ok {
		t.Fatal("no Job temporal-schema")
	}
	jc := job.spec.Containers[0]
	if want := "temporalio/admin-tools:" + version; jc.Image != want {
		t.Errorf("temporal-schema image %q, want %q", jc.Image, want)
	}
	if got := scriptOf(t, jc, job.spec, configMaps); got != deployFile(t, "compose/temporal-schema.sh") {
		t.Error("Job temporal-schema does not run the text of deploy/compose/temporal-schema.sh")
	}
	jenv := map[string]corev1.EnvVar{}
	for _, e := range jc.Env {
		jenv[e.Name] = e
	}
	if jenv["SQL_PLUGIN"].Value != "postgres12" || jenv["SQL_HOST"].Value != env["POSTGRES_SEEDS"].Value ||
		jenv["SQL_PASSWORD"].ValueFrom == nil || jenv["SQL_PASSWORD"].ValueFrom.SecretKeyRef == nil {
		t.Errorf("temporal-schema connects with %v; want the servers' PostgreSQL, its password from the Secret", jenv)
	}
}

// scriptOf returns the text of the script that container c runs as `sh <file>` from a
// ConfigMap volume.
func scriptOf(t *testing.T, c corev1.Container, spec corev1.PodSpec, configMaps map[string]*corev1.ConfigMap) string {
	t.Helper()
	if len(c.Command) != 2 || c.Command[0] != "/bin/sh" {
		t.Errorf("container %s runs %v, want /bin/sh <script>", c.Name, c.Command)
		return ""
	}
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(c.Command[1], m.MountPath+"/")
		if !ok {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil && configMaps[v.ConfigMap.Name] != nil {
				return configMaps[v.ConfigMap.Name].Data[rel]
			}
		}
	}
	t.Errorf("container %s: %s is in no ConfigMap", c.Name, c.Command[1])
	return ""
}

// checkKubernetesRedis: a StatefulSet of six cluster nodes behind a headless Service that
// names them before they are ready, made one cluster by a Job, both running the compose file's
// scripts; Reservo's RESERVO_REDIS_ADDR lists every node.
func checkKubernetesRedis(t *testing.T, byName map[string]workload, configMaps map[string]*corev1.ConfigMap,
	services map[string]*corev1.Service, config *corev1.ConfigMap) {
	t.Helper()
	w, ok := byName["StatefulSet/redis-cluster"]
	if !ok {
		t.Fatal("no StatefulSet redis-cluster (the Redis Cluster)")
	}
	if w.replicas != redisNodes {
		t.Errorf("the Redis Cluster has %d nodes, want %d (three masters, a replica each)", w.replicas, redisNodes)
	}
	c := w.spec.Containers[0]
	if !slices.Contains(c.Args, "--cluster-enabled") || c.ReadinessProbe == nil || c.LivenessProbe == nil {
		t.Errorf("redis-cluster runs %v (readiness %v, liveness %v), want a cluster node, probed", c.Args, c.ReadinessProbe != nil, c.LivenessProbe != nil)
	}
	if scriptOf(t, c, w.spec, configMaps) != deployFile(t, "compose/redis-cluster-node.sh") {
		t.Error("the Redis Cluster's nodes do not run the text of deploy/compose/redis-cluster-node.sh")
	}
	svc := services["redis-cluster"]
	if svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses {
		t.Error("no headless Service redis-cluster that names the nodes before they are ready")
	}

	var nodes []string
	for i := range redisNodes {
		nodes = append(nodes, fmt.Sprintf("redis-cluster-%d.redis-cluster", i))
	}
	job, ok := byName["Job/redis-cluster-create"]
	if !ok {
		t.Fatal("no Job redis-cluster-create")
	}
	jc := job.spec.Containers[0]
	if scriptOf(t, jc, job.spec, configMaps) != deployFile(t, "compose/redis-cluster-create.sh") {
		t.Error("Job redis-cluster-create does not run the text of deploy/compose/redis-cluster-create.sh")
	}
	if len(jc.Args) != redisNodes {
		t.Errorf("redis-cluster-create makes a cluster of %v, want the %d nodes", jc.Args, redisNodes)
	}
	for i, a := range jc.Args {
		if i < len(nodes) && !strings.HasPrefix(a, nodes[i]+".") && a != nodes[i]+":6379" {
			t.Errorf("redis-cluster-create node %d is %q, want %s", i, a, nodes[i])
		}
	}
	got := strings.Split(strings.TrimSpace(config.Data["RESERVO_REDIS_ADDR"]), ",")
	for i := range got {
		got[i] = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(got[i]), ":6379"), ".reservo.svc.cluster.local")
	}
	slices.Sort(got)
	if !slices.Equal(got, nodes) {
		t.Errorf("RESERVO_REDIS_ADDR=%q, want the cluster's nodes %v", config.Data["RESERVO_REDIS_ADDR"], nodes)
	}
}
