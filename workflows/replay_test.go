package workflows

import (
	"log/slog"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
)

// TestReplay_SavedHistories replays the histories of every saga branch, recorded on the real
// server (go test ./ops -run Saga -record), against the current workflow code: a change that
// would break running bookings fails here. Guard such a change with workflow.GetVersion.
// testdata/ holds the histories of this build's branches; each folder under it those of an
// earlier build (testdata/before-settlement: before the money settled at the close, refunds
// went to the background and confirmed bookings continued as new; testdata/before-local-activities:
// before the hold, the deposit, payment records and transitions ran as local activities), which
// must replay as well.
func TestReplay_SavedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	older, err := filepath.Glob(filepath.Join("testdata", "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 || len(older) < 10 {
		t.Fatalf("%d saved histories of this build, %d of earlier ones; want one per branch (10 of each)", len(files), len(older))
	}
	files = append(files, older...)
	for _, f := range files {
		name, _ := filepath.Rel("testdata", f)
		t.Run(name, func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			for _, wf := range All {
				r.RegisterWorkflow(wf)
			}
			if err := r.ReplayWorkflowHistoryFromJSONFile(slog.New(slog.DiscardHandler), f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}
