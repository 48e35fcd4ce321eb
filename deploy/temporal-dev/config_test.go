package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A cluster node's membership needs shared persistence and ports the membership table can keep.
func TestLoadConfig_MembershipPort(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, err string
	}{
		{"alone", "persistence: {driver: sqlite}\n", ""},
		{"a node on postgres", "membershipPort: 7300\npersistence: {driver: postgres}\n", ""},
		{"a node on sqlite", "membershipPort: 7300\npersistence: {driver: sqlite}\n", "needs the postgres driver"},
		{"ports past a smallint", "membershipPort: 32764\npersistence: {driver: postgres}\n", "below 32768"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "temporal-dev.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("TEMPORAL_DEV_MEMBERSHIP_PORT", "")
			t.Setenv("TEMPORAL_DEV_DB_DRIVER", "")
			_, err := loadConfig(path)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("loadConfig: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("loadConfig: %v, want an error saying %q", err, tc.err)
			}
		})
	}
}
