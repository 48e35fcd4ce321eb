// Command temporal-dev runs Reservo's local Temporal server: go.temporal.io/server with every
// service in one process, persistence in a SQLite file (or PostgreSQL), and the Temporal Web UI
// from github.com/temporalio/ui-server. It is configured by temporal-dev.yaml at the root of the
// repository and makes sure that the namespaces and the custom search attributes Reservo needs
// exist at every start, on a new database as on an existing one.
//
// It lives in its own module because the server pins an older Temporal SDK and API than the
// product uses.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/metrics"
	_ "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	sqltool "go.temporal.io/server/tools/sql"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"gopkg.in/yaml.v3"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "temporal-dev:", err)
		os.Exit(1)
	}
}

// Config is the shape of temporal-dev.yaml. Every address can be overridden by environment
// variables so that scripts can move the server without editing the file.
type Config struct {
	IP      string `yaml:"ip"`
	Port    int    `yaml:"port"`
	UIPort  int    `yaml:"uiPort"`
	LogLvl  string `yaml:"logLevel"`
	Metrics int    `yaml:"metricsPort"`
	// MembershipPort, when set, makes this process one node of a cluster: its services join the
	// server's own membership (ringpop) on MembershipPort and the next four ports, found through
	// the cluster_membership table of the shared PostgreSQL, and the history shards and task
	// queues are spread over every live node. Zero: one node alone, its services addressed
	// statically.
	MembershipPort int `yaml:"membershipPort"`

	Persistence struct {
		Driver string `yaml:"driver"` // sqlite or postgres
		SQLite struct {
			Path    string            `yaml:"path"`
			Pragmas map[string]string `yaml:"pragmas"`
		} `yaml:"sqlite"`
		Postgres struct {
			Host               string `yaml:"host"`
			Port               int    `yaml:"port"`
			User               string `yaml:"user"`
			Password           string `yaml:"password"`
			Database           string `yaml:"database"`
			VisibilityDatabase string `yaml:"visibilityDatabase"`
		} `yaml:"postgres"`
	} `yaml:"persistence"`

	Namespaces []struct {
		Name      string        `yaml:"name"`
		Retention time.Duration `yaml:"retention"`
	} `yaml:"namespaces"`

	// SearchAttributes maps a custom search attribute's name to its type (Keyword, Text, Int,
	// Double, Bool, Datetime, KeywordList).
	SearchAttributes map[string]string `yaml:"searchAttributes"`

	Auth struct {
		// PublicKeys is a PEM file (or the PEM text) of the ECDSA P-256 public keys whose tokens (ES256 JWTs
		// with a "permissions" claim, Temporal's default claim mapper) the frontend accepts;
		// every call without a valid token is denied. Empty: no authorization (a warning).
		PublicKeys string `yaml:"publicKeys"`
		// InternalPort is the internal frontend's, which the server's own worker service
		// uses; it trusts every caller, so it listens on the server's IP only. Default port+4.
		InternalPort int `yaml:"internalPort"`
	} `yaml:"auth"`

	UI struct {
		// CodecEndpoint is the codec server the Web UI decodes payloads through, as the
		// browser reaches it (Reservo's staff plane, /codec); its cookies go with each call.
		CodecEndpoint string `yaml:"codecEndpoint"`
		// WriteActions offers terminate, reset, signal, update, cancel, batch and start in
		// the UI. Off: support staff act through reservo ops, which audits them.
		WriteActions bool `yaml:"writeActions"`
	} `yaml:"ui"`
}

func loadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var cfg Config
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	// Environment overrides, used by deploy/stack.sh and by people with servers of their own.
	envStr(&cfg.IP, "TEMPORAL_DEV_IP")
	envInt(&cfg.Port, "TEMPORAL_DEV_PORT")
	envInt(&cfg.UIPort, "TEMPORAL_DEV_UI_PORT")
	envInt(&cfg.Metrics, "TEMPORAL_DEV_METRICS_PORT")
	envInt(&cfg.MembershipPort, "TEMPORAL_DEV_MEMBERSHIP_PORT")
	envStr(&cfg.Persistence.Driver, "TEMPORAL_DEV_DB_DRIVER")
	envStr(&cfg.Persistence.SQLite.Path, "TEMPORAL_DEV_SQLITE_PATH")
	envStr(&cfg.Persistence.Postgres.Host, "TEMPORAL_DEV_PG_HOST")
	envInt(&cfg.Persistence.Postgres.Port, "TEMPORAL_DEV_PG_PORT")
	envStr(&cfg.Persistence.Postgres.User, "TEMPORAL_DEV_PG_USER")
	envStr(&cfg.Persistence.Postgres.Password, "TEMPORAL_DEV_PG_PASSWORD")
	envStr(&cfg.Persistence.Postgres.Database, "TEMPORAL_DEV_PG_DATABASE")
	envStr(&cfg.Persistence.Postgres.VisibilityDatabase, "TEMPORAL_DEV_PG_VISIBILITY_DATABASE")
	envStr(&cfg.Auth.PublicKeys, "TEMPORAL_DEV_AUTH_KEYS")
	envInt(&cfg.Auth.InternalPort, "TEMPORAL_DEV_INTERNAL_PORT")
	envStr(&cfg.UI.CodecEndpoint, "TEMPORAL_DEV_CODEC_ENDPOINT")
	if cfg.IP == "" {
		cfg.IP = "127.0.0.1"
	}
	if cfg.Port == 0 {
		cfg.Port = 7233
	}
	if cfg.UIPort == 0 {
		cfg.UIPort = 8233
	}
	if cfg.Auth.InternalPort == 0 {
		cfg.Auth.InternalPort = cfg.Port + 4
	}
	if cfg.LogLvl == "" {
		cfg.LogLvl = "warn"
	}
	if cfg.Persistence.Driver == "" {
		cfg.Persistence.Driver = "sqlite"
	}
	if cfg.MembershipPort != 0 && cfg.Persistence.Driver != "postgres" {
		return nil, errors.New("membershipPort: a cluster's nodes share their persistence: it needs the postgres driver")
	}
	if cfg.MembershipPort < 0 || cfg.MembershipPort+4 > math.MaxInt16 {
		// The cluster_membership table keeps the port as a smallint.
		return nil, fmt.Errorf("membershipPort %d: the five ports from it must be below 32768", cfg.MembershipPort)
	}
	return &cfg, nil
}

func envStr(dst *string, key string) {
	if v := os.Getenv(key); v != "" {
		*dst = v
	}
}

func envInt(dst *int, key string) {
	if v := os.Getenv(key); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			*dst = n
		}
	}
}

func run() error {
	configPath := flag.String("config", "temporal-dev.yaml", "path of the server's configuration")
	flag.Parse()

	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	searchAttrs, err := parseSearchAttributes(cfg.SearchAttributes)
	if err != nil {
		return err
	}
	logger := log.NewZapLogger(log.BuildZapLogger(log.Config{Stdout: true, Level: cfg.LogLvl}))

	persistence, err := persistenceConfig(cfg, searchAttrs)
	if err != nil {
		return err
	}

	// local is where the services reach each other: the IP they listen on, or the loopback when
	// they listen on every interface (in a container).
	local := cfg.IP
	if ip := net.ParseIP(cfg.IP); ip != nil && ip.IsUnspecified() {
		local = "127.0.0.1"
	}
	// Ports: frontend on cfg.Port, the other services on the next ones, like the official dev server.
	ports := map[primitives.ServiceName]int{
		primitives.FrontendService: cfg.Port,
		primitives.HistoryService:  cfg.Port + 1,
		primitives.MatchingService: cfg.Port + 2,
		primitives.WorkerService:   cfg.Port + 3,
	}
	// In a cluster each service also listens for the membership's gossip, on its own port.
	membershipPorts := map[primitives.ServiceName]int{
		primitives.FrontendService:         cfg.MembershipPort,
		primitives.HistoryService:          cfg.MembershipPort + 1,
		primitives.MatchingService:         cfg.MembershipPort + 2,
		primitives.WorkerService:           cfg.MembershipPort + 3,
		primitives.InternalFrontendService: cfg.MembershipPort + 4,
	}
	rpc := func(name primitives.ServiceName, port int) config.Service {
		r := config.RPC{GRPCPort: port, BindOnIP: cfg.IP}
		if cfg.MembershipPort != 0 {
			r.MembershipPort = membershipPorts[name]
		}
		return config.Service{RPC: r}
	}
	services := map[string]config.Service{}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for name, port := range ports {
		services[string(name)] = rpc(name, port)
		hosts[name] = static.SingleLocalHost(net.JoinHostPort(local, strconv.Itoa(port)))
	}
	frontend := net.JoinHostPort(local, strconv.Itoa(cfg.Port))
	// With authorization on, the server's own worker service calls an internal frontend that
	// trusts its callers, and the set-up below does too.
	setupAddr := frontend
	serviceNames := temporal.DefaultServices
	var authOpts []temporal.ServerOption
	if cfg.Auth.PublicKeys != "" {
		keys, err := newPEMKeys(cfg.Auth.PublicKeys)
		if err != nil {
			return err
		}
		ife := primitives.InternalFrontendService
		services[string(ife)] = rpc(ife, cfg.Auth.InternalPort)
		setupAddr = net.JoinHostPort(local, strconv.Itoa(cfg.Auth.InternalPort))
		hosts[ife] = static.SingleLocalHost(setupAddr)
		serviceNames = append(append([]string{}, temporal.DefaultServices...), string(ife))
		authOpts = []temporal.ServerOption{
			temporal.WithAuthorizer(authorization.NewDefaultAuthorizer()),
			temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper {
				return authorization.NewDefaultJWTClaimMapper(keys, &config.Authorization{PermissionsClaimName: "permissions"}, logger)
			}),
		}
	} else {
		fmt.Fprintln(os.Stderr, "temporal-dev: WARNING: auth.publicKeys is empty: the frontend serves every caller")
	}

	serverCfg := &config.Config{
		Global: config.Global{
			Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: local},
		},
		Persistence: *persistence,
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace:    false,
			FailoverVersionIncrement: 10,
			MasterClusterName:        "active",
			CurrentClusterName:       "active",
			ClusterInformation: map[string]cluster.ClusterInformation{
				"active": {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontend},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services:            services,
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{
			Archival: config.ArchivalNamespaceDefaults{
				History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
				Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
			},
		},
	}
	if cfg.Auth.PublicKeys == "" {
		serverCfg.PublicClient = config.PublicClient{HostPort: frontend}
	}
	if cfg.Metrics != 0 {
		serverCfg.Global.Metrics = &metrics.Config{Prometheus: &metrics.PrometheusConfig{
			ListenAddress: net.JoinHostPort(cfg.IP, strconv.Itoa(cfg.Metrics)),
			HandlerPath:   "/metrics",
		}}
	}

	dc := dynamicconfig.NewMemoryClient()
	// Make a newly registered namespace usable within a second.
	dc.OverrideSetting(dynamicconfig.NamespaceCacheRefreshInterval, time.Second)
	// Search attributes added at start must be visible at once, not after the cache refresh
	// (60 s)... but only at start: with it on, every read of a search attribute (each start,
	// upsert and visibility task) reads the cluster metadata from the database under one
	// mutex of the server, about 140 reads a second under the booking benchmark
	// (BENCHMARKS.md, "Where a booking's time goes"). It goes off a cache refresh interval
	// after the search attributes are made sure of, when every cache read before has expired.
	forceSARefresh := dc.OverrideSetting(dynamicconfig.ForceSearchAttributesCacheRefreshOnRead, true)
	// Eager workflow start and eager activity dispatch are the server's defaults (on); Reservo's
	// bookings start by Update-With-Start, which has no eager start.
	if cfg.MembershipPort != 0 {
		// A node that joins the cluster (a restart) takes its history shards and task queues at
		// a time it announces a few seconds ahead (the next multiple of 5 s after the ring's
		// propagation time, 3 s), when every node changes its ring at once. Unaligned, the
		// joining node took shards before the other knew it had joined: the other's writes on
		// them failed with no owner to send them to, the workflow tasks and updates on them
		// waited past the guests' 10 s deadline, and the bookings stalled for 4-5 s (the HA
		// suite, BENCHMARKS.md). A node that is stopped (SIGTERM) leaves at such a time too:
		// its stop waits for it.
		dc.OverrideSetting(dynamicconfig.HistoryAlignMembershipChange, 5*time.Second)
		dc.OverrideSetting(dynamicconfig.MatchingAlignMembershipChange, 5*time.Second)
	}

	opts := []temporal.ServerOption{
		temporal.WithConfig(serverCfg),
		temporal.ForServices(serviceNames),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dc),
	}
	membershipNote := "one node"
	if cfg.MembershipPort == 0 {
		opts = append(opts, temporal.WithStaticHosts(hosts))
	} else {
		membershipNote = fmt.Sprintf("a cluster node (membership on %s:%d-%d)", local, cfg.MembershipPort, cfg.MembershipPort+4)
	}
	srv, err := temporal.NewServer(append(opts, authOpts...)...)
	if err != nil {
		return fmt.Errorf("new server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	defer func() { _ = srv.Stop() }()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if err := ensureNamespaces(ctx, setupAddr, cfg, searchAttrs); err != nil {
		return err
	}
	if cfg.MembershipPort != 0 {
		// Ready when this node's history has taken its shards (its health check serves), not
		// at the aligned time a few seconds on: a fresh cluster's first node has no history
		// host at all until then.
		history := net.JoinHostPort(local, strconv.Itoa(ports[primitives.HistoryService]))
		if err := waitHistory(ctx, history, time.Minute); err != nil {
			fmt.Fprintln(os.Stderr, "temporal-dev: WARNING:", err)
		}
	}
	saRefreshOff := time.AfterFunc(searchAttributesCacheRefresh+5*time.Second, forceSARefresh)
	defer saRefreshOff.Stop()

	// The UI calls the public frontend with the Authorization header of each request it
	// serves (grpc-gateway forwards it): Reservo's staff plane, in front of it, signs staff in
	// and adds a read-only token, so the UI itself holds no credential.
	off := !cfg.UI.WriteActions
	ui := uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
		TemporalGRPCAddress:       frontend,
		Host:                      cfg.IP,
		Port:                      cfg.UIPort,
		EnableUI:                  true,
		DisableNewsFetch:          true,
		HideLogs:                  true,
		DefaultNamespace:          "default",
		CORS:                      uiconfig.CORS{CookieInsecure: true},
		Codec:                     uiconfig.Codec{Endpoint: cfg.UI.CodecEndpoint, IncludeCredentials: true},
		DisableWriteActions:       off,
		WorkflowTerminateDisabled: off,
		WorkflowCancelDisabled:    off,
		WorkflowSignalDisabled:    off,
		WorkflowUpdateDisabled:    off,
		WorkflowResetDisabled:     off,
		WorkflowPauseDisabled:     off,
		BatchActionsDisabled:      off,
		StartWorkflowDisabled:     off,
		ActivityCommandsDisabled:  off,
	}))
	go func() { _ = ui.Start() }()
	defer ui.Stop()

	authNote := "no authorization"
	if cfg.Auth.PublicKeys != "" {
		authNote = "tokens required (internal frontend " + setupAddr + ")"
	}
	fmt.Printf("temporal-dev: frontend %s, web UI http://%s:%d (write actions %v, codec %q), persistence %s, %s, %s\n",
		frontend, cfg.IP, cfg.UIPort, cfg.UI.WriteActions, cfg.UI.CodecEndpoint, cfg.Persistence.Driver, authNote, membershipNote)
	<-ctx.Done()
	fmt.Println("temporal-dev: stopping")
	return nil
}

func parseSearchAttributes(in map[string]string) (map[string]enumspb.IndexedValueType, error) {
	out := make(map[string]enumspb.IndexedValueType, len(in))
	for name, typ := range in {
		v, ok := enumspb.IndexedValueType_shorthandValue[typ]
		if !ok {
			return nil, fmt.Errorf("search attribute %s: unknown type %q", name, typ)
		}
		out[name] = enumspb.IndexedValueType(v)
	}
	return out, nil
}

func persistenceConfig(cfg *Config, searchAttrs map[string]enumspb.IndexedValueType) (*config.Persistence, error) {
	switch cfg.Persistence.Driver {
	case "sqlite":
		path := cfg.Persistence.SQLite.Path
		if path == "" {
			return nil, errors.New("persistence.sqlite.path is required")
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("sqlite dir: %w", err)
		}
		sqlCfg := &config.SQL{
			PluginName:        sqliteplugin.PluginName,
			DatabaseName:      path,
			ConnectAttributes: map[string]string{"mode": "rwc"},
			// SQLite allows one writer; more connections only produce SQLITE_BUSY.
			MaxConns:     1,
			MaxIdleConns: 1,
		}
		for k, v := range cfg.Persistence.SQLite.Pragmas {
			sqlCfg.ConnectAttributes["_"+k] = v
		}
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			if err := sqliteschema.SetupSchema(sqlCfg); err != nil {
				return nil, fmt.Errorf("sqlite schema: %w", err)
			}
		}
		// On a new database the namespaces are written before start so that they are usable at
		// once; on an existing one this does nothing and ensureNamespaces adds what is missing.
		var nss []*sqliteschema.NamespaceConfig
		for _, ns := range cfg.Namespaces {
			nc, err := sqliteschema.NewNamespaceConfig("active", ns.Name, false, searchAttrs)
			if err != nil {
				return nil, fmt.Errorf("namespace %s: %w", ns.Name, err)
			}
			if ns.Retention > 0 {
				nc.Detail.Config.Retention = durationpb.New(ns.Retention)
			}
			nss = append(nss, nc)
		}
		if err := sqliteschema.CreateNamespaces(sqlCfg, nss...); err != nil {
			return nil, fmt.Errorf("create namespaces: %w", err)
		}
		return &config.Persistence{
			DefaultStore:     "sqlite-default",
			VisibilityStore:  "sqlite-default",
			NumHistoryShards: 1,
			DataStores:       map[string]config.DataStore{"sqlite-default": {SQL: sqlCfg}},
		}, nil
	case "postgres":
		pg := cfg.Persistence.Postgres
		if pg.Database == "" {
			pg.Database = "temporal"
		}
		if pg.VisibilityDatabase == "" {
			pg.VisibilityDatabase = "temporal_visibility"
		}
		mk := func(db string) *config.SQL {
			return &config.SQL{
				PluginName:      "postgres12",
				DatabaseName:    db,
				ConnectAddr:     net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port)),
				ConnectProtocol: "tcp",
				User:            pg.User,
				Password:        pg.Password,
				MaxConns:        20,
				MaxIdleConns:    20,
			}
		}
		for db, schemaName := range map[string]string{
			pg.Database:           "postgresql/v12/temporal",
			pg.VisibilityDatabase: "postgresql/v12/visibility",
		} {
			if err := setupPostgres(pg.Host, pg.Port, pg.User, pg.Password, db, schemaName); err != nil {
				return nil, err
			}
		}
		// Sixteen history shards: the shards are spread over the nodes by their hash ring, and a
		// node that owns none never reports its history ready (the server's readiness wants at
		// least one shard). With four, the second node of two got none about one start in
		// sixteen, and the high-availability suite starts it twice. The count is fixed at a
		// cluster's creation: the suite creates its cluster's databases for each run.
		return &config.Persistence{
			DefaultStore:     "pg-default",
			VisibilityStore:  "pg-visibility",
			NumHistoryShards: 16,
			DataStores: map[string]config.DataStore{
				"pg-default":    {SQL: mk(pg.Database)},
				"pg-visibility": {SQL: mk(pg.VisibilityDatabase)},
			},
		}, nil
	default:
		return nil, fmt.Errorf("persistence.driver %q: want sqlite or postgres", cfg.Persistence.Driver)
	}
}

// setupPostgres creates the database if needed and brings its schema to the newest version with
// the server's own SQL tool (the same steps as temporal-sql-tool), which is idempotent.
func setupPostgres(host string, port int, user, password, db, schemaName string) error {
	base := []string{"temporal-sql-tool", "--plugin", "postgres12", "--ep", host, "-p", strconv.Itoa(port),
		"-u", user, "--pw", password, "--db", db}
	steps := [][]string{
		{"create-database"},
		{"setup-schema", "-v", "0.0"},
		{"update-schema", "--schema-name", schemaName},
	}
	for _, step := range steps {
		args := append(append([]string{}, base...), step...)
		if err := sqltool.RunTool(args); err != nil {
			// create-database and setup-schema fail harmlessly on an existing database.
			if step[0] == "update-schema" {
				return fmt.Errorf("postgres schema %s: %w", db, err)
			}
		}
	}
	return nil
}

// ensureNamespaces registers missing namespaces, sets their retention and adds missing custom
// search attributes, so that an existing database picks up what temporal-dev.yaml asks for.
// searchAttributesCacheRefresh is how long the server's services keep the search attributes
// they read (go.temporal.io/server/common/searchattribute: cacheRefreshInterval).
const searchAttributesCacheRefresh = 60 * time.Second

func ensureNamespaces(ctx context.Context, frontend string, cfg *Config, searchAttrs map[string]enumspb.IndexedValueType) error {
	c, err := client.Dial(client.Options{HostPort: frontend, Logger: quietLogger{}})
	if err != nil {
		return fmt.Errorf("dial frontend: %w", err)
	}
	defer c.Close()

	for _, ns := range cfg.Namespaces {
		retention := ns.Retention
		if retention == 0 {
			retention = 24 * time.Hour
		}
		desc, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns.Name})
		var notFound *serviceerror.NamespaceNotFound
		switch {
		case errors.As(err, &notFound):
			if _, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
				Namespace:                        ns.Name,
				WorkflowExecutionRetentionPeriod: durationpb.New(retention),
			}); err != nil {
				return fmt.Errorf("register namespace %s: %w", ns.Name, err)
			}
		case err != nil:
			return fmt.Errorf("describe namespace %s: %w", ns.Name, err)
		case desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration() != retention:
			if _, err := c.WorkflowService().UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{
				Namespace: ns.Name,
				Config:    &namespacepb.NamespaceConfig{WorkflowExecutionRetentionTtl: durationpb.New(retention)},
			}); err != nil {
				return fmt.Errorf("update namespace %s: %w", ns.Name, err)
			}
		}

		if err := addSearchAttributes(ctx, c, ns.Name, searchAttrs); err != nil {
			return err
		}
	}
	return nil
}

func addSearchAttributes(ctx context.Context, c client.Client, ns string, want map[string]enumspb.IndexedValueType) error {
	// A namespace registered a moment ago may not be in every cache yet: retry for a while.
	deadline := time.Now().Add(30 * time.Second)
	for {
		have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
		if err == nil {
			missing := map[string]enumspb.IndexedValueType{}
			for name, typ := range want {
				if _, ok := have.GetCustomAttributes()[name]; !ok {
					missing[name] = typ
				}
			}
			if len(missing) == 0 {
				return nil
			}
			_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
				Namespace: ns, SearchAttributes: missing,
			})
			if err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("search attributes of %s: %w", ns, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitHistory waits, for at most limit, until the history service at addr answers its health
// check SERVING, which it does once it owns shards and they are loaded.
func waitHistory(ctx context.Context, addr string, limit time.Duration) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("history health check: %w", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	hc := healthpb.NewHealthClient(conn)
	for {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: historyHealthService})
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("history %s does not serve after %s (%v): ready without it", addr, limit, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// historyHealthService is the name the history service reports its health under
// (go.temporal.io/server/service/history: serviceName).
const historyHealthService = "temporal.api.workflowservice.v1.HistoryService"

// quietLogger keeps the SDK client used for set-up from repeating what the server already logs.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
