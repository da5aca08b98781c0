package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gigfs.io/gigfs/internal/cluster"
	"gigfs.io/gigfs/oplog"
)

// compact makes the store compact the oplog (typ, spath): the store is
// stopped, the file rewritten with its live records, and the store started
// again.
func compact(st *cluster.Store, typ, spath string) error {
	st.Stop()
	salt, err := os.ReadFile(filepath.Join(st.Dir, "salt"))
	if err != nil {
		return err
	}
	name := filepath.Join(st.Dir, strings.TrimSpace(string(salt)), benchUser, "root", typ, filepath.FromSlash(strings.TrimPrefix(spath, "/")))
	d, err := oplog.OpenDiskLog(name)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	err = d.Compact()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	return st.Start()
}
