package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/task"
)

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// summary is the one line a waiting command prints when its task succeeded.
func summary(t task.Task) string {
	took := ""
	if t.Duration != nil {
		took = ", " + human(time.Duration(*t.Duration))
	}
	switch t.Type {
	case task.IndexCreation:
		var d task.IndexCreationDetails
		_ = t.DecodeDetails(&d)
		pk := "inferred at the first addition"
		if d.PrimaryKey != "" {
			pk = fmt.Sprintf("%q", d.PrimaryKey)
		}
		return fmt.Sprintf("created index %q, primary key %s (task %d%s)", t.IndexUID, pk, t.UID, took)
	case task.IndexDeletion:
		var d task.IndexDeletionDetails
		_ = t.DecodeDetails(&d)
		return fmt.Sprintf("deleted index %q with %s (task %d%s)", t.IndexUID, task.Count(deref(d.DeletedDocuments), "document"), t.UID, took)
	case task.DocumentAdditionOrUpdate:
		var d task.DocumentAdditionDetails
		_ = t.DecodeDetails(&d)
		verb := "added or updated"
		if d.ReplaceAll {
			verb = "replaced all documents with"
		}
		return fmt.Sprintf("%s %s in %q (%d received, primary key %q, version %d; task %d%s)",
			verb, task.Count(deref(d.IndexedDocuments), "document"), t.IndexUID, deref(d.ReceivedDocuments), d.PrimaryKey, deref(d.IndexVersion), t.UID, took)
	case task.DocumentDeletion:
		var d task.DocumentDeletionDetails
		_ = t.DecodeDetails(&d)
		return fmt.Sprintf("deleted %d of %s from %q (task %d%s)", deref(d.DeletedDocuments), task.Count(d.ProvidedIDs, "document"), t.IndexUID, t.UID, took)
	case task.SingleIndexSnapshotCreation:
		var d task.SnapshotCreationDetails
		_ = t.DecodeDetails(&d)
		how := "created"
		if d.Reused {
			how = "reused (index unchanged since)"
		}
		if d.ReusedFiles > 0 {
			how += fmt.Sprintf(" (%s, %s, reused from the previous snapshot)", task.Count(d.ReusedFiles, "file"), task.HumanBytes(d.ReusedBytes))
		}
		return fmt.Sprintf("snapshot of %q %s: %s, %s, %s, index version %d (task %d%s)",
			t.IndexUID, how, d.Path, task.HumanBytes(d.Size), task.Count(d.NumberOfDocuments, "document"), d.IndexVersion, t.UID, took)
	case task.SingleIndexSnapshotImport:
		var d task.SnapshotImportDetails
		_ = t.DecodeDetails(&d)
		how := "as"
		if d.Replaced {
			how = "replacing"
		}
		return fmt.Sprintf("imported %q %s %q: %s, index version %d (task %d%s)",
			d.IndexUID, how, d.NewIndexUID, task.Count(d.NumberOfDocuments, "document"), d.IndexVersion, t.UID, took)
	case task.IndexRename:
		var d task.IndexRenameDetails
		_ = t.DecodeDetails(&d)
		return fmt.Sprintf("renamed index %q to %q (task %d%s)", d.OldIndexUID, d.NewIndexUID, t.UID, took)
	case task.IndexSwap:
		var d task.IndexSwapDetails
		_ = t.DecodeDetails(&d)
		return fmt.Sprintf("swapped indexes %q and %q (task %d%s)", d.Indexes[0], d.Indexes[1], t.UID, took)
	}
	return fmt.Sprintf("task %d %s", t.UID, t.Status)
}

func deref(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}

// printTask writes one task for people.
func printTask(w io.Writer, t task.Task) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("uid", itoa(t.UID))
	row("type", string(t.Type))
	row("index", t.IndexUID)
	row("status", string(t.Status))
	row("enqueued", t.EnqueuedAt.Format(time.RFC3339Nano))
	if t.StartedAt != nil {
		row("started", t.StartedAt.Format(time.RFC3339Nano))
	}
	if t.FinishedAt != nil {
		row("finished", t.FinishedAt.Format(time.RFC3339Nano))
	}
	if t.Duration != nil {
		row("duration", human(time.Duration(*t.Duration)))
	}
	if t.Progress != nil {
		row("progress", t.Progress.Text())
	}
	if len(t.Details) > 0 {
		row("details", string(t.Details))
	}
	if t.Error != nil {
		row("error", fmt.Sprintf("%s (code %s, type %s)", t.Error.Message, t.Error.Code, t.Error.Type))
	}
	tw.Flush()
}

// printTasks writes a table of tasks.
func printTasks(w io.Writer, ts []task.Task) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "UID\tTYPE\tINDEX\tSTATUS\tPROGRESS\tENQUEUED\tDURATION\tERROR")
	for _, t := range ts {
		prog, dur, errc := "-", "-", "-"
		if t.Progress != nil {
			prog = fmt.Sprintf("%.0f%%", t.Progress.Percentage)
		}
		if t.Duration != nil {
			dur = human(time.Duration(*t.Duration))
		}
		if t.Error != nil {
			errc = t.Error.Code
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.UID, t.Type, t.IndexUID, t.Status, prog,
			tableTime(t.EnqueuedAt), dur, errc)
	}
	tw.Flush()
}

// printIndex writes one index for people.
func printIndex(w io.Writer, in index.Info) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("uid", in.UID)
	pk := in.PrimaryKey
	if pk == "" {
		pk = "(none yet: inferred at the first addition)"
	}
	row("primary key", pk)
	row("documents", fmt.Sprint(in.Documents))
	row("size on disk", task.HumanBytes(in.SizeOnDisk))
	row("version", fmt.Sprint(in.Version))
	row("created", in.CreatedAt.Format(time.RFC3339))
	row("updated", in.UpdatedAt.Format(time.RFC3339Nano))
	tw.Flush()
}

func printIndexes(w io.Writer, ins []index.Info) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "UID\tPRIMARY KEY\tDOCUMENTS\tSIZE\tVERSION\tUPDATED")
	for _, in := range ins {
		pk := in.PrimaryKey
		if pk == "" {
			pk = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\n", in.UID, pk, in.Documents, task.HumanBytes(in.SizeOnDisk),
			in.Version, tableTime(in.UpdatedAt))
	}
	tw.Flush()
}

// human rounds a duration for people.
func human(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

// tableTime is a time in a table: local, to the second, with its zone
// ("2026-11-30 14:05:01 UTC"), so that it means one moment wherever it is
// read (issue 9).
func tableTime(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05 MST") }
