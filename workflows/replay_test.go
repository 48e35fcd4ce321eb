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
func TestReplay_SavedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 8 {
		t.Fatalf("%d saved histories; want one per branch (8)", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
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
