package srv9p

import "context"

// NewSnapshotFile returns a read-only file whose content is what fn
// answers: a stat calls it for the length (FUSE clients read only up to
// it), an open takes the snapshot that the fid's reads then give. For small
// files made on demand: a status, a log.
func NewSnapshotFile(info Info, fn func(ctx context.Context) ([]byte, error)) File {
	return &snapshotFile{info: info, fn: fn}
}

type snapshotFile struct {
	info Info
	fn   func(ctx context.Context) ([]byte, error)
}

func (f *snapshotFile) Stat(ctx context.Context) (Info, error) {
	b, err := f.fn(ctx)
	if err != nil {
		return Info{}, err
	}
	info := f.info
	info.Length = int64(len(b))
	return info, nil
}

func (f *snapshotFile) Open(ctx context.Context, _ OpenMode) (Handle, error) {
	b, err := f.fn(ctx)
	if err != nil {
		return nil, err
	}
	return NewStatic(b), nil
}
