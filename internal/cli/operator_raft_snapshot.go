package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	ucli "github.com/urfave/cli/v2"

	raftstore "github.com/cofferhq/coffer/internal/physical/raft"
)

// raftSnapshotCommand is `operator raft snapshot save|restore|inspect`, in
// the shape of `bao operator raft snapshot`.
func (e *env) raftSnapshotCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "snapshot",
		Usage: "Save, restore and inspect snapshots of integrated storage",
		Subcommands: []*ucli.Command{
			e.clientCommand(&ucli.Command{
				Name:      "save",
				Usage:     "Save a snapshot of the cluster's data (barrier ciphertext) to FILE",
				ArgsUsage: "FILE",
			}, runSnapshotSave),
			e.clientCommand(&ucli.Command{
				Name:      "restore",
				Usage:     "Replace the cluster's data with the snapshot in FILE",
				ArgsUsage: "FILE",
				Description: `The snapshot is verified completely before anything changes. Without -force
it must have been taken on this cluster (its keyring must open with this
cluster's unseal key). With -force it is restored whatever its origin; when
its keys are not this cluster's the server seals and is unsealed with the
snapshot's own (original) unseal key shares.`,
				Flags: []ucli.Flag{&ucli.BoolFlag{Name: "force", Usage: "restore a snapshot taken on another cluster"}},
			}, runSnapshotRestore),
			e.clientCommand(&ucli.Command{
				Name:      "inspect",
				Usage:     "Verify the snapshot in FILE and print its index, term, size and key count (offline)",
				ArgsUsage: "FILE",
			}, runSnapshotInspect),
		},
	}
}

func runSnapshotSave(s *session) error {
	if err := s.wantArgs(1, 1); err != nil {
		return err
	}
	path := s.arg(0)
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return usageError("creating the snapshot file", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return usageError("creating the snapshot file", err)
	}
	if err := s.client.Sys().RaftSnapshotWithContext(s.ctx, tmp); err != nil {
		_ = tmp.Close()
		return serverError("taking the snapshot", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return usageError("writing the snapshot file", err)
	}
	if err := tmp.Close(); err != nil {
		return usageError("writing the snapshot file", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return usageError("writing the snapshot file", err)
	}
	return nil
}

func runSnapshotRestore(s *session) error {
	if err := s.wantArgs(1, 1); err != nil {
		return err
	}
	f, err := os.Open(s.arg(0))
	if err != nil {
		return usageError("opening the snapshot file", err)
	}
	defer f.Close()
	if err := s.client.Sys().RaftSnapshotRestoreWithContext(s.ctx, f, s.c.Bool("force")); err != nil {
		return serverError("restoring the snapshot", err)
	}
	return nil
}

// snapshotInfo is the JSON/YAML shape of snapshot inspect.
type snapshotInfo struct {
	Index      uint64    `json:"index"`
	Term       uint64    `json:"term"`
	Size       int64     `json:"size"`
	Keys       uint64    `json:"keys"`
	CreatedAt  time.Time `json:"created_at"`
	NodeID     string    `json:"node_id"`
	Version    int       `json:"version"`
	ChecksumOK bool      `json:"checksum_ok"`
}

func runSnapshotInspect(s *session) error {
	if err := s.wantArgs(1, 1); err != nil {
		return err
	}
	f, err := os.Open(s.arg(0))
	if err != nil {
		return usageError("opening the snapshot file", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return usageError("opening the snapshot file", err)
	}
	meta, err := raftstore.ReadArchive(f, nil, nil)
	if err != nil {
		return usageErrorf("Error inspecting the snapshot: %s", err)
	}
	info := snapshotInfo{Index: meta.Index, Term: meta.Term, Size: st.Size(), Keys: meta.Keys,
		CreatedAt: meta.CreatedAt, NodeID: meta.NodeID, Version: meta.Version, ChecksumOK: true}
	if s.out.format != "table" {
		return s.out.structured(info)
	}
	return s.out.table([]row{
		{"Index", info.Index},
		{"Term", info.Term},
		{"Size", fmt.Sprintf("%d bytes", info.Size)},
		{"Keys", info.Keys},
		{"Created", info.CreatedAt.Format(time.RFC3339)},
		{"Node ID", info.NodeID},
		{"Version", info.Version},
		{"Checksum", "ok"},
	})
}
