package srv9p

import (
	"context"
	"fmt"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"
)

// The calls of a Client on files it keeps open, and on directories: what
// the remote store client needs beyond Ctl, ReadFile and WriteFile, so that
// no package but this one imports a 9P library.

// A DirEntry is one entry of a directory listing.
type DirEntry struct {
	Name string
	Dir  bool
}

// ReadDir lists the directory at path.
func (c *Client) ReadDir(ctx context.Context, path string) ([]DirEntry, error) {
	var out []DirEntry
	err := c.Do(ctx, func() error {
		fid, err := c.fsys.Open(path, plan9.OREAD)
		if err != nil {
			return err
		}
		defer fid.Close()
		ents, err := fid.Dirreadall()
		for _, e := range ents {
			out = append(out, DirEntry{Name: e.Name, Dir: e.Mode&plan9.DMDIR != 0})
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", path, err)
	}
	return out, nil
}

// A ClientFile is a file a Client keeps open for reading and writing: a push
// file that takes many writes on one fid, or a stream. Its calls run one at
// a time with the Client's others (Client.Do).
type ClientFile struct {
	c    *Client
	path string
	fid  *client.Fid
}

// Open opens the file at path for reading and writing.
func (c *Client) Open(ctx context.Context, path string) (*ClientFile, error) {
	var fid *client.Fid
	err := c.Do(ctx, func() error {
		var err error
		fid, err = c.fsys.Open(path, plan9.ORDWR)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &ClientFile{c: c, path: path, fid: fid}, nil
}

// Exchange writes data in writes of at most chunk bytes (whole lines where
// the data allows it, see WriteFile), then reads the reply from offset 0 to
// its end: the request/reply habit of ctl and push files.
func (f *ClientFile) Exchange(ctx context.Context, data []byte, chunk int) ([]byte, error) {
	var reply []byte
	err := f.c.Do(ctx, func() error {
		for len(data) > 0 {
			n := min(len(data), chunk)
			if _, err := f.fid.WriteAt(data[:n], 0); err != nil {
				return err
			}
			data = data[n:]
		}
		var err error
		reply, err = ReadAll(f.fid)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.path, err)
	}
	return reply, nil
}

// Write writes p at the file's offset.
func (f *ClientFile) Write(ctx context.Context, p []byte) error {
	err := f.c.Do(ctx, func() error {
		_, err := f.fid.Write(p)
		return err
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	return nil
}

// Read reads once at the file's offset: one event of a stream.
func (f *ClientFile) Read(ctx context.Context, p []byte) (int, error) {
	var n int
	err := f.c.Do(ctx, func() error {
		var err error
		n, err = f.fid.Read(p)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", f.path, err)
	}
	return n, nil
}

// Close clunks the file and returns the server's answer: a store refuses
// the clunk of a file whose last write left a partial line, which it
// dropped (gig.ErrInvalid). A Client that has hung up has clunked it
// already.
func (f *ClientFile) Close() error {
	if err := f.c.Do(context.Background(), func() error { return f.fid.Close() }); err != nil {
		return fmt.Errorf("close %s: %w", f.path, err)
	}
	return nil
}
